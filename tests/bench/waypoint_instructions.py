#!/usr/bin/python3
"""The waypoint's (or the ztunnels') user-space instructions per request, for one or more builds.

  tests/bench/waypoint_instructions.py [--ztunnel] [--requests N] [--rounds R] [--keep DIR]
                                       [--ctl AMBITCTL] BIN_DIR...

CPU time per request moves ±5-15% between runs on a shared 2-vCPU machine, more than most single
changes to the waypoint's request path; instruction counts do not. For each BIN_DIR (a directory
holding all of the lab's binaries, e.g. build/bin or a copy of an older build), in turn and
`--rounds` times, this brings up its own lab ("wpir", with a waypoint, the lab's seed
VirtualService 80/20) whose ambit-waypoint runs under valgrind's callgrind, sends 200 warm-up
requests, zeroes the counters, sends `--requests` requests through the Service VIP (`hey -c 16
-q 10`: 160 req/s, what callgrind keeps up with), dumps the counters, and takes the lab down.
Prints a markdown table: instructions per request (every library's included, the kernel's not)
per run, their mean, and the ratio to the first BIN_DIR. Needs root and valgrind
(scripts/setup.sh installs it); ~45 s per run (~30 s with --ztunnel).

--ztunnel measures the two ztunnels instead, on the L4 path the benchmark's latency rows use
(client pod -> my-app-v2's pod IP, cross-node; no waypoint): both run under callgrind, and the
table shows the client side's, the server side's and their sum per request.
"""

import argparse
import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
from measure import ScenarioError, log, run  # noqa: E402

LAB = "wpir"
VIP_URL = "http://10.96.0.10/bytes/1024"
L4_URL = "http://10.244.2.10:8080/bytes/1024"  # my-app-v2 on node2, from the client on node1
BINARIES = ("ambit-agent", "ambit-control", "ambit-sample-app", "ambit-waypoint", "ambit-ztunnel",
            "ambitctl")


class Runner:
    def __init__(self, args):
        self.ztunnel = args.ztunnel
        self.daemon = "ambit-ztunnel" if args.ztunnel else "ambit-waypoint"
        self.url = L4_URL if args.ztunnel else VIP_URL
        self.ctl = args.ctl
        self.requests = args.requests
        self.keep = Path(args.keep).resolve() if args.keep else None
        self.valgrind = shutil.which("valgrind")
        self.control = shutil.which("callgrind_control")
        if not self.valgrind or not self.control:
            raise ScenarioError("valgrind / callgrind_control not found (scripts/setup.sh "
                                "installs valgrind)")
        self.work = Path(tempfile.mkdtemp(prefix="wpir-", dir="/run"))

    def pod(self, cmd):
        return [self.ctl, "lab", "exec", "--name", LAB, "client", "--", *cmd]

    def bin_dir(self, source, index):
        """source's binaries, with the measured daemon started under callgrind."""
        source = Path(source).resolve()
        for name in BINARIES:
            if not (source / name).is_file():
                raise ScenarioError(f"{source}: no {name} (a BIN_DIR holds all of {BINARIES})")
        d = self.work / f"bin{index}"
        out = self.work / f"callgrind{index}"
        d.mkdir()
        out.mkdir()
        for name in BINARIES:
            if name != self.daemon:
                (d / name).symlink_to(source / name)
        wrapper = d / self.daemon
        wrapper.write_text(
            "#!/bin/sh\n"
            # --trace-children: the waypoint runs itself again first, with its malloc tunable
            # (harmless for the ztunnel, which starts nothing)
            # (common/malloc_tunables.h); the measured process is that image.
            f"exec {shlex.quote(self.valgrind)} --tool=callgrind --dump-instr=no "
            "--trace-children=yes "
            f"--callgrind-out-file={shlex.quote(str(out))}/callgrind.%p "
            f"{shlex.quote(str(source / self.daemon))} \"$@\"\n")
        wrapper.chmod(0o755)
        return d, out

    def pids(self):
        """The measured processes: the waypoint, or the ztunnels of node1 and node2 in order."""
        status = json.loads(run([self.ctl, "lab", "status", "--name", LAB, "-o", "json"],
                                30).stdout)
        if self.ztunnel:
            z = sorted((d["node"], int(d["pid"])) for d in status.get("daemons", [])
                       if d.get("name") == "ztunnel" and d.get("pid"))
            if len(z) != 2:
                raise ScenarioError(f"lab status shows {len(z)} ztunnel processes, not 2")
            return [pid for _, pid in z]
        for pod in status.get("pods", []):
            if pod.get("name") == "waypoint" and pod.get("pid"):
                return [int(pod["pid"])]
        raise ScenarioError("lab status shows no waypoint pod process")

    def hey(self, n):
        p = run(self.pod(["hey", "-n", str(n), "-c", "16", "-q", "10", self.url]), 600)
        ok = re.search(r"\[200\]\s+(\d+) responses", p.stdout)
        if not ok or int(ok.group(1)) < n - 16:  # hey rounds n down to a multiple of -c
            raise ScenarioError(f"hey to {self.url}: not all 200s:\n{p.stdout[-600:]}")
        return int(ok.group(1))

    def measure(self, source, index):
        """Instructions per request of source's measured process(es), one figure each."""
        if Path(f"/run/{LAB}-lab").exists():
            raise ScenarioError(f"a lab {LAB} exists already (another run, or a leftover): "
                                f"`ambitctl lab down --name {LAB}` first")
        bin_dir, cg_dir = self.bin_dir(source, index)
        try:
            up = [self.ctl, "lab", "up", "--name", LAB, "--bin-dir", str(bin_dir)]
            if not self.ztunnel:
                up += ["--waypoint", "--waypoint-arg=--no-access-log"]
            run(up, 180)
            if not self.ztunnel:
                shutil.copy(REPO / "tests" / "data" / "seed-virtualservice.yaml",
                            f"/run/{LAB}-lab/config/50-bench-seed-vs.yaml")
            run(self.pod(["curl", "-s", "-o", "/dev/null", "-m", "30", "--retry", "20",
                          "--retry-all-errors", "--retry-delay", "1", self.url]), 120)
            self.hey(200)
            pids = self.pids()
            for pid in pids:
                run([self.control, "-z", str(pid)], 60)
            served = self.hey(self.requests)
            for pid in pids:
                run([self.control, "-d", str(pid)], 60)
            sides = ["client", "server"] if self.ztunnel else ["waypoint"]
            return [self.dumped(cg_dir, pid, source, f"{index}.{side}") / served
                    for pid, side in zip(pids, sides)]
        finally:
            # A second Ctrl-C must not cut the cleanup short.
            handlers = (signal.signal(signal.SIGINT, signal.SIG_IGN),
                        signal.signal(signal.SIGTERM, signal.SIG_IGN))
            run([self.ctl, "lab", "down", "--name", LAB], 180, check=False)
            signal.signal(signal.SIGINT, handlers[0])
            signal.signal(signal.SIGTERM, handlers[1])

    def dumped(self, cg_dir, pid, source, tag):
        """The instruction total of pid's latest callgrind dump (waits up to 60 s for it); --keep
        copies the dump as callgrind.run<tag>.<BIN_DIR name>, tag = "<run>.<side>"."""
        deadline = time.time() + 60
        while time.time() < deadline:
            dumps = sorted(cg_dir.glob(f"callgrind.{pid}.*"))
            text = dumps[-1].read_text(errors="replace") if dumps else ""
            m = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
            if m:
                if self.keep:
                    self.keep.mkdir(parents=True, exist_ok=True)
                    shutil.copy(dumps[-1],
                                self.keep / f"callgrind.run{tag}.{Path(source).name}")
                return int(m.group(1))
            time.sleep(1)
        raise ScenarioError(f"callgrind wrote no dump for {pid} within 60 s")

    def main(self, dirs, rounds):
        try:
            results = {d: [] for d in dirs}
            for r in range(rounds):
                for i, d in enumerate(dirs):
                    ir = self.measure(d, r * len(dirs) + i)
                    log(f"round {r + 1}: {d}: " +
                        " + ".join(f"{x:,.0f}" for x in ir) + " instructions per request")
                    results[d].append(ir)
        finally:
            shutil.rmtree(self.work, ignore_errors=True)
        what = ("The ztunnels' user-space instructions per request (callgrind, client side + "
                f"server side, {self.requests} requests at 160 req/s to {self.url}, cross-node)"
                if self.ztunnel else
                f"Waypoint user-space instructions per request (callgrind, {self.requests} "
                f"requests at 160 req/s through {self.url}, seed split 80/20)")
        print(what + "\n")
        total = {d: [sum(x) for x in results[d]] for d in dirs}
        base = sum(total[dirs[0]]) / rounds
        if self.ztunnel:
            print("| binaries | per run (client + server) | client side | server side | mean sum "
                  "| vs first |")
            print("|---|---|---:|---:|---:|---:|")
        else:
            print("| binaries | per run | mean | vs first |")
            print("|---|---|---:|---:|")
        for d in dirs:
            mean = sum(total[d]) / rounds
            if self.ztunnel:
                runs = " / ".join(f"{a:,.0f} + {b:,.0f}" for a, b in results[d])
                sides = [sum(x[i] for x in results[d]) / rounds for i in (0, 1)]
                print(f"| {d} | {runs} | {sides[0]:,.0f} | {sides[1]:,.0f} | {mean:,.0f} | "
                      f"{mean / base:.3f}x |")
            else:
                runs = " / ".join(f"{x:,.0f}" for x in total[d])
                print(f"| {d} | {runs} | {mean:,.0f} | {mean / base:.3f}x |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", metavar="BIN_DIR")
    ap.add_argument("--ztunnel", action="store_true",
                    help="measure the two ztunnels on the L4 path instead of the waypoint")
    ap.add_argument("--requests", type=int, default=1600)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--keep", metavar="DIR",
                    help="copy each run's callgrind dumps to DIR/callgrind.runN.SIDE.BIN_DIR_NAME "
                         "(SIDE: waypoint, or client and server with --ztunnel; for "
                         "callgrind_annotate)")
    ap.add_argument("--ctl", default=str(REPO / "build" / "bin" / "ambitctl"),
                    help="the ambitctl that drives the labs (default: build/bin's)")
    args = ap.parse_args()
    if args.requests < 100 or args.rounds < 1:
        sys.exit("waypoint_instructions.py: --requests must be ≥ 100 and --rounds ≥ 1")
    resolved = [Path(d).resolve() for d in args.dirs]
    if len(set(resolved)) != len(resolved):
        sys.exit("waypoint_instructions.py: a BIN_DIR is given twice (each one's runs would be "
                 "counted together)")

    def on_signal(signum, _frame):
        raise ScenarioError(f"interrupted ({signal.Signals(signum).name})")
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        Runner(args).main(args.dirs, args.rounds)
    except (ScenarioError, subprocess.SubprocessError, OSError) as e:
        sys.exit(f"waypoint_instructions.py: {e}")


if __name__ == "__main__":
    main()
