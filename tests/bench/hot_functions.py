#!/usr/bin/python3
"""Writes ztunnel/hot-functions.txt: the functions a running ambit-ztunnel executes, hottest first.

  tests/bench/hot_functions.py [--build-dir build] [--out ztunnel/hot-functions.txt]

The ztunnel's link places the sections holding these symbols first, in this order
(cmake/AmbitStaticLink.cmake), so the code a ztunnel touches shares pages. This script measures
which code that is: it brings up its own lab ("hotfn", with a waypoint and 2-minute
certificates) whose two ztunnels run under valgrind's callgrind, drives the traffic the
benchmark drives (cross-node and same-node HTTP, IPv6, the Service VIP through the waypoint,
iperf3 with 1 and 8 streams, the namespace out of the mesh and back, connection churn, idle
and refused connections, metrics scrapes, a certificate rotation), stops the ztunnels (their
drain runs too) and ranks every function of ambit-ztunnel that ran by its own instruction
count, summed over both ztunnels. Run it after changes that move much of the ztunnel's code;
a stale list still links, it only leaves the new code outside the hot pages (the ctest
ztunnel_link_layout fails once the list has drifted far). Takes 1-3 minutes (up to 2 of
them waiting for a certificate rotation); needs root and valgrind.
"""

import argparse
import collections
import os
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

LAB = "hotfn"
CLIENT, V1, V2, VIP, V2_V6 = "10.244.1.10", "10.244.1.11", "10.244.2.10", "10.96.0.10", \
    "fd00:10:244:2::10"
DAEMONS = ("ambit-agent", "ambit-control", "ambit-sample-app", "ambit-waypoint", "ambitctl")


def callgrind_self_cost(files, binary_name):
    """{symbol: instructions executed in it} for the functions of binary_name in callgrind's
    output files (written with --demangle=no --dump-instr=no: names are link names and each
    cost line is `line instructions`). A callee's cost after a `calls=` line is inclusive and
    is not the caller's own."""
    cost = collections.Counter()
    entry = re.compile(r"^(c?ob|c?fl|c?fi|c?fe|c?fn)=\((\d+)\)(?: (.*))?$")
    for path in files:
        objects, functions = {}, {}
        current_object, current = None, None
        after_calls = False
        for line in open(path, errors="replace"):
            line = line.rstrip("\n")
            m = entry.match(line)
            if m:
                kind, index, name = m.groups()
                if kind.endswith("ob"):
                    if name:
                        objects[index] = name
                    if kind == "ob":
                        current_object = objects.get(index, "")
                elif kind.endswith("fn"):
                    if name:
                        functions[index] = name.split("'")[0]  # foo'2: foo, recursion level 2
                    if kind == "fn":
                        current = None
                        # Code without a symbol shows as an address or "(below main)".
                        if Path(current_object or "").name == binary_name and \
                                not functions[index].startswith(("0x", "(")):
                            current = functions[index]
                            cost[current] += 0
                after_calls = False
                continue
            if line.startswith("calls="):
                after_calls = True
                continue
            fields = line.split()
            if current and len(fields) == 2 and fields[1].isdigit():
                if not after_calls:
                    cost[current] += int(fields[1])
            after_calls = False
    return cost


class Profile:
    def __init__(self, args):
        self.build = Path(args.build_dir).resolve()
        self.ctl = str(self.build / "bin" / "ambitctl")
        self.work = Path(tempfile.mkdtemp(prefix="hotfn-", dir="/run"))
        self.servers = []

    def pod(self, pod, cmd):
        return [self.ctl, "lab", "exec", "--name", LAB, pod, "--", *cmd]

    def netns(self, pod, cmd):
        return ["ip", "netns", "exec", f"{LAB}-pod-{pod}", *cmd]

    def node(self, node, cmd):
        return ["ip", "netns", "exec", f"{LAB}-{node}", *cmd]

    def server(self, cmd):
        self.servers.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL, stdin=subprocess.PIPE))
        time.sleep(0.5)

    def stop_servers(self):
        for p in self.servers:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.servers = []

    def bin_dir(self):
        """The lab's binaries, with ambit-ztunnel started under callgrind."""
        valgrind = shutil.which("valgrind")
        if not valgrind:
            raise ScenarioError("valgrind not found (scripts/setup.sh installs it)")
        d = self.work / "bin"
        d.mkdir()
        for name in DAEMONS:
            (d / name).symlink_to(self.build / "bin" / name)
        out = self.work / "callgrind"
        out.mkdir()
        wrapper = d / "ambit-ztunnel"
        wrapper.write_text(
            "#!/bin/sh\n"
            f"exec {shlex.quote(valgrind)} --tool=callgrind --demangle=no --dump-instr=no "
            f"--callgrind-out-file={shlex.quote(str(out))}/callgrind.%p "
            f"{shlex.quote(str(self.build / 'bin' / 'ambit-ztunnel'))} \"$@\"\n")
        wrapper.chmod(0o755)
        return d, out

    def curl(self, url, expect_ok=True):
        p = run(self.pod("client", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                    "-m", "20", "--retry", "3", "--retry-all-errors", url]),
                60, check=False)
        if expect_ok and p.stdout.strip() != "200":
            raise ScenarioError(f"curl {url}: status {p.stdout.strip() or 'none'}")

    @staticmethod
    def ztunnel_log(node):
        return Path(f"/run/{LAB}-lab/logs/{node}-ztunnel.log").read_text(errors="replace")

    def rotated_twice(self, node):
        """Each identity of the node's ztunnel has had its second certificate."""
        text = self.ztunnel_log(node)
        ids = set(re.findall(r"identity (\S+): certificate installed", text))
        return bool(ids) and all(text.count(f"certificate for {i} rotated") >= 2 for i in ids)

    def set_enrolled(self, enrolled):
        """Switches the lab's namespace label and waits until both ztunnels removed (or added)
        the namespace's pods."""
        f = Path(f"/run/{LAB}-lab/config/00-namespaces.yaml")
        on, off = 'istio.io/dataplane-mode: "ambient"', 'hotfn.ambit.dev/dataplane-mode-was: "x"'
        line = "listening on 15001" if enrolled else "removed, listeners closed"
        before = {n: self.ztunnel_log(n).count(line) for n in ("node1", "node2")}
        text = f.read_text()
        if (off if enrolled else on) not in text:
            raise ScenarioError(f"{f}: no enrolment label to switch")
        f.write_text(text.replace(off, on) if enrolled else text.replace(on, off))
        deadline = time.time() + 60
        while time.time() < deadline:
            if all(self.ztunnel_log(n).count(line) > before[n] for n in before):
                time.sleep(2)  # the rest of the namespace's pods
                return
            time.sleep(1)
        raise ScenarioError(f"namespace {'enrolment' if enrolled else 'removal'} did not reach "
                            "both ztunnels within 60 s")

    def ztunnel_pids(self):
        out = run([self.ctl, "lab", "status", "--name", LAB], 30).stdout
        return [int(f[2]) for f in (line.split() for line in out.splitlines())
                if len(f) >= 3 and f[1] == "ztunnel" and f[2].isdigit()]

    def workload(self):
        for url in (f"http://{V2}:8080/bytes/1024", f"http://{V1}:8080/",
                    f"http://[{V2_V6}]:8080/", f"http://{VIP}/bytes/1024"):
            self.curl(url)
        # The namespace out of the mesh and back, as the benchmark does between its phases:
        # pods removed (listeners closed), added again (hand-off, listeners, certificates).
        self.set_enrolled(False)
        self.curl(f"http://{V2}:8080/")
        self.set_enrolled(True)
        # A port nothing listens on: the refused-connection path of both ztunnels.
        run(self.pod("client", ["curl", "-s", "-m", "10", f"http://{V2}:8099/"]), 30, check=False)
        for node in ("node1", "node2"):
            run(self.node(node, ["curl", "-sf", "-m", "10", "-o", "/dev/null",
                                 "http://127.0.0.1:15020/metrics"]), 30)
        self.server(self.netns("my-app-v2", ["iperf3", "-s", "-p", "5201"]))
        for streams in ("1", "8"):
            run(self.pod("client", ["iperf3", "-c", V2, "-p", "5201", "-t", "3", "-P", streams]),
                60)
        for url in (f"http://{V2}:8080/bytes/1024", f"http://{VIP}/bytes/1024"):
            run(self.pod("client", ["hey", "-c", "8", "-q", "25", "-z", "5s", url]), 60)
        run(self.pod("client", ["hey", "-c", "4", "-q", "10", "-z", "4s", "-disable-keepalive",
                                f"http://{V2}:8080/"]), 60)
        run(self.pod("client", ["wrk", "-t", "1", "-c", "16", "-d", "3s",
                                f"http://{V2}:8080/bytes/1024"]), 60)
        self.server(self.netns("my-app-v2", ["/usr/bin/python3", str(HERE / "idle_conns.py"),
                                             "serve", "9000"]))
        idle = subprocess.Popen(
            self.pod("client", ["/usr/bin/python3", str(HERE / "idle_conns.py"), "connect", V2,
                                "9000", "300", "60"]),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            line = idle.stdout.readline()
            if not line.startswith("READY"):
                raise ScenarioError(f"idle connections: {line.strip() or 'no answer'}")
            time.sleep(2)
            idle.stdin.write("done\n")
            idle.stdin.flush()
            idle.wait(timeout=60)
        finally:
            if idle.poll() is None:
                idle.kill()
                idle.wait()
        # Certificates of 120 s renew after ~30 s: wait for every identity's second one.
        deadline = time.time() + 120
        while time.time() < deadline and not all(
                self.rotated_twice(n) for n in ("node1", "node2")):
            time.sleep(2)
        self.curl(f"http://{V2}:8080/bytes/1024")

    def stop_ztunnels(self, profiles):
        """SIGTERM to both ztunnels (their drain runs), then wait until callgrind has written
        both profiles: `lab down` would SIGKILL a process that takes its time to exit."""
        for pid in self.ztunnel_pids():
            try:
                os.kill(pid, signal.SIGTERM)  # the lab's ztunnels: this script started them
            except ProcessLookupError:
                pass
        deadline = time.time() + 180
        while time.time() < deadline:
            files = sorted(profiles.glob("callgrind.*"))
            if len(files) == 2 and all(
                    "\ntotals:" in f.read_text(errors="replace")[-4096:] for f in files):
                return files
            time.sleep(1)
        raise ScenarioError("the ztunnels did not write their callgrind profiles within 180 s")

    def main(self, out_file):
        try:
            self.profile(out_file)
        finally:
            shutil.rmtree(self.work, ignore_errors=True)

    def profile(self, out_file):
        if Path(f"/run/{LAB}-lab").exists():
            raise ScenarioError(f"a lab {LAB} exists already (another run, or a leftover): "
                                f"`ambitctl lab down --name {LAB}` first")
        bin_dir, cg_dir = self.bin_dir()
        lab_up = False
        try:
            log("lab up, ztunnels under callgrind")
            run([self.ctl, "lab", "up", "--name", LAB, "--bin-dir", str(bin_dir), "--waypoint",
                 "--cert-ttl", "120", "--no-supervisor"], 180)
            lab_up = True
            self.workload()
            self.stop_servers()
            log("stopping the ztunnels (callgrind writes its profiles as they exit)")
            files = self.stop_ztunnels(cg_dir)
        finally:
            # A second Ctrl-C must not cut the cleanup short.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            self.stop_servers()
            if lab_up or Path(f"/run/{LAB}-lab").exists():  # ours: it did not exist before
                log("lab down")
                run([self.ctl, "lab", "down", "--name", LAB], 180, check=False)
        cost = callgrind_self_cost(files, "ambit-ztunnel")
        if len(cost) < 1000:
            raise ScenarioError(f"only {len(cost)} functions ran: the profile is not a ztunnel's")
        ranked = sorted(cost, key=lambda name: (-cost[name], name))
        with open(out_file, "w") as f:
            f.write("# ambit-ztunnel's functions that ran under tests/bench/hot_functions.py,\n"
                    "# hottest first (own instructions over both ztunnels). Generated: do not\n"
                    "# edit; cmake/AmbitStaticLink.cmake says how the link uses it.\n")
            f.write("".join(name + "\n" for name in ranked))
        log(f"{out_file}: {len(ranked)} functions")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=str(REPO / "build"))
    ap.add_argument("--out", default=str(REPO / "ztunnel" / "hot-functions.txt"))
    args = ap.parse_args()

    def on_signal(signum, _frame):
        raise ScenarioError(f"interrupted ({signal.Signals(signum).name})")
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        Profile(args).main(args.out)
    except ScenarioError as e:
        sys.exit(f"hot_functions.py: {e}")


if __name__ == "__main__":
    main()
