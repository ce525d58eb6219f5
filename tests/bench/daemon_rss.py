#!/usr/bin/python3
"""The resident memory and the CPU per request of the lab's daemons under load, for builds.

  tests/bench/daemon_rss.py [--rounds R] [--seconds S] [--ctl AMBITCTL] BIN_DIR...

For each BIN_DIR (a directory holding all of the lab's binaries, e.g. build/bin or a copy of an
older build), in turn and `--rounds` times, this brings up its own lab ("drss", with a waypoint
and the lab's seed VirtualService 80/20) from those binaries, sends `--seconds` of 1,000 req/s
through the Service VIP from the client pod (`hey -c 16 -q 62.5`), reads VmRSS and RssAnon
(the private part) of both agents, both ztunnels and the waypoint, and takes the lab down.
Prints two markdown tables: each daemon's VmRSS per run and its mean, in MB; and the CPU time
(utime + stime) each daemon used during the load, per 1,000 requests answered, with the
waypoint's and the ztunnels' sum per run. Fresh labs alternate between the builds, so a machine
that drifts touches every build alike. Needs root; ~30 s per run. Session 23 (BENCHMARKS.md)
measured the agent's and the waypoint's static link with it, session 24 the CPU of the TLS
buffers kept between messages.
"""

import argparse
import json
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
from measure import ScenarioError, cpu_seconds, log, run, status_kb  # noqa: E402

LAB = "drss"
VIP_URL = "http://10.96.0.10/bytes/1024"
BINARIES = ("ambit-agent", "ambit-control", "ambit-sample-app", "ambit-waypoint", "ambit-ztunnel",
            "ambitctl")
DAEMONS = ("agent node1", "agent node2", "ztunnel node1", "ztunnel node2", "waypoint")


class Runner:
    def __init__(self, args):
        self.ctl = args.ctl
        self.seconds = args.seconds

    def pod(self, cmd):
        return [self.ctl, "lab", "exec", "--name", LAB, "client", "--", *cmd]

    def pids(self):
        """DAEMONS -> pid, from `lab status`."""
        status = json.loads(run([self.ctl, "lab", "status", "--name", LAB, "-o", "json"],
                                30).stdout)
        found = {f"{d.get('name')} {d.get('node')}": int(d["pid"])
                 for d in status.get("daemons", []) if d.get("pid")}
        found.update({p["name"]: int(p["pid"]) for p in status.get("pods", [])
                      if p.get("name") == "waypoint" and p.get("pid")})
        missing = [d for d in DAEMONS if d not in found]
        if missing:
            raise ScenarioError(f"lab status shows no process for {', '.join(missing)}")
        return {d: found[d] for d in DAEMONS}

    def measure(self, source):
        """DAEMONS -> (VmRSS, RssAnon in MB after the load, CPU-s per 1,000 requests during it),
        in a fresh lab of source's binaries."""
        if Path(f"/run/{LAB}-lab").exists():
            raise ScenarioError(f"a lab {LAB} exists already (another run, or a leftover): "
                                f"`ambitctl lab down --name {LAB}` first")
        try:
            run([self.ctl, "lab", "up", "--name", LAB, "--bin-dir", source, "--waypoint",
                 "--waypoint-arg=--no-access-log"], 180)
            shutil.copy(REPO / "tests" / "data" / "seed-virtualservice.yaml",
                        f"/run/{LAB}-lab/config/50-bench-seed-vs.yaml")
            run(self.pod(["curl", "-s", "-o", "/dev/null", "-m", "30", "--retry", "20",
                          "--retry-all-errors", "--retry-delay", "1", VIP_URL]), 120)
            pids = self.pids()
            cpu_before = {d: cpu_seconds([pid]) for d, pid in pids.items()}
            p = run(self.pod(["hey", "-c", "16", "-q", "62.5", "-z", f"{self.seconds}s",
                              VIP_URL]), self.seconds + 60)
            cpu = {d: cpu_seconds([pid]) - cpu_before[d] for d, pid in pids.items()}
            ok = re.search(r"\[200\]\s+(\d+) responses", p.stdout)
            if not ok or int(ok.group(1)) < 900 * self.seconds:
                raise ScenarioError(f"hey to {VIP_URL}: fewer than 900 ok responses a second:\n"
                                    f"{p.stdout[-600:]}")
            answered = int(ok.group(1))
            got = {d: (status_kb(pid, "VmRSS") / 1024, status_kb(pid, "RssAnon") / 1024,
                       cpu[d] * 1000 / answered)
                   for d, pid in pids.items()}
            gone = [d for d, (rss, _, _) in got.items() if rss == 0]
            if gone:
                raise ScenarioError(f"no VmRSS for {', '.join(gone)}: the process ended")
            return got
        finally:
            # A second Ctrl-C must not cut the cleanup short.
            handlers = (signal.signal(signal.SIGINT, signal.SIG_IGN),
                        signal.signal(signal.SIGTERM, signal.SIG_IGN))
            down = run([self.ctl, "lab", "down", "--name", LAB], 180, check=False)
            if down.returncode != 0:
                log(f"lab down --name {LAB} failed ({down.returncode}): {down.stderr.strip()}")
            signal.signal(signal.SIGINT, handlers[0])
            signal.signal(signal.SIGTERM, handlers[1])

    def main(self, dirs, rounds):
        results = {d: [] for d in dirs}
        for r in range(rounds):
            for d in dirs:
                got = self.measure(d)
                log(f"round {r + 1}: {d}: " +
                    ", ".join(f"{k} {v[0]:.1f} MB {v[2]:.4f} CPU-s/1k" for k, v in got.items()))
                results[d].append(got)
        print(f"VmRSS in MB after {self.seconds} s at 1,000 req/s through {VIP_URL} (seed split "
              "80/20), a fresh lab per run; in brackets the mean private part (RssAnon)\n")
        print("| binaries | " + " | ".join(DAEMONS) + " |")
        print("|---|" + "---:|" * len(DAEMONS))
        for d in dirs:
            cells = []
            for daemon in DAEMONS:
                rss = [one[daemon][0] for one in results[d]]
                anon = sum(one[daemon][1] for one in results[d]) / len(rss)
                cells.append(" / ".join(f"{x:.1f}" for x in rss) +
                             f" (mean {sum(rss) / len(rss):.1f}; {anon:.1f})")
            print(f"| {d} | " + " | ".join(cells) + " |")
        print(f"\nCPU-seconds (utime + stime) per 1,000 requests during the {self.seconds} s "
              "of load, per run, and the mean (clock ticks of 10 ms: read the sums)\n")
        sums = (("waypoint + ztunnels", ("waypoint", "ztunnel node1", "ztunnel node2")),)
        print("| binaries | " + " | ".join(DAEMONS) + " | " + " | ".join(n for n, _ in sums) +
              " |")
        print("|---|" + "---:|" * (len(DAEMONS) + len(sums)))
        for d in dirs:
            cells = []
            columns = [[one[daemon][2] for one in results[d]] for daemon in DAEMONS]
            columns += [[sum(one[m][2] for m in members) for one in results[d]]
                        for _, members in sums]
            for values in columns:
                cells.append(" / ".join(f"{x:.4f}" for x in values) +
                             f" (mean {sum(values) / len(values):.4f})")
            print(f"| {d} | " + " | ".join(cells) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bin_dirs", nargs="+", metavar="BIN_DIR")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=10, help="load duration per run (5-120)")
    ap.add_argument("--ctl", default=str(REPO / "build" / "bin" / "ambitctl"))
    args = ap.parse_args()
    if not 1 <= args.rounds <= 20:
        ap.error("--rounds must be 1-20")
    if not 5 <= args.seconds <= 120:
        ap.error("--seconds must be 5-120")

    def on_signal(signum, _frame):
        raise ScenarioError(f"interrupted ({signal.Signals(signum).name})")
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        dirs = []
        for d in args.bin_dirs:
            source = str(Path(d).resolve())
            for name in BINARIES:
                if not (Path(source) / name).is_file():
                    raise ScenarioError(f"{d}: no {name} (a BIN_DIR holds all of {BINARIES})")
            if source in dirs:
                raise ScenarioError(f"{d} is given twice")
            dirs.append(source)
        Runner(args).main(dirs, args.rounds)
    except (ScenarioError, subprocess.SubprocessError, OSError) as e:
        sys.exit(f"daemon_rss.py: {e}")


if __name__ == "__main__":
    main()
