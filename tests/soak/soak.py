#!/usr/bin/python3
"""The soak driver (run by scripts/soak.sh inside the client pod of a lab that is up with
--waypoint): mixed L4 + waypoint traffic at fixed rates, configuration churn, a resource sample
of every daemon each minute, certificate rotation watched every 10 s (rotation.py), and a
verdict. Exit status 0 only if every check held:
  - no daemon died or was restarted;
  - RSS growth from the end of the warm-up to the last sample <= max(RSS_GROWTH_MB, RSS_GROWTH_PCT);
  - open fds growth over the same span <= FD_GROWTH;
  - no unexpected request outcome outside the churn windows (expectations.py);
  - every configuration change took effect within 5 s and no daemon rejected one (churn.py;
    with --extra-pod the cycle also takes that pod out of the mesh and back in);
  - every certificate each ztunnel and the waypoint hold was replaced at least every
    2 x --rotation-seconds (rotation.py; the lab's --cert-ttl sets the real interval);
  - under the 80/20 route the answers split 80/20 within SPLIT_TOLERANCE;
  - the load generators achieved at least MIN_ACHIEVED of their planned requests.
Writes <out>/daemons.csv (one row per daemon per sample), <out>/requests.csv (per sample and
kind), <out>/churn.csv (per step), <out>/rotations.csv (per certificate rotation seen) and
<out>/report.txt (the final tables, also printed).
"""
import argparse
import csv
import os
import signal
import sys
import time

import churn
import expectations
import report
import rotation
import sampler
import traffic

# Issue 14's bar: RSS growth under 5 % after warm-up. The 1 MB floor only matters for the lab
# supervisor (~10 MB), whose RSS moves by allocator noise alone.
RSS_GROWTH_MB = 1.0
RSS_GROWTH_PCT = 5.0
FD_GROWTH = 20
SPLIT_TOLERANCE = 0.03
MIN_ACHIEVED = 0.9
VIP = "10.96.0.10"  # Service my-app, bound to the waypoint


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lab", required=True)
    p.add_argument("--ctl", required=True, help="path of ambitctl")
    p.add_argument("--out", required=True, help="directory for the CSV files and the report")
    p.add_argument("--minutes", type=float, default=60)
    p.add_argument("--warmup-minutes", type=float,
                   help="RSS/fd growth is measured from here (default: min(5, minutes/3))")
    p.add_argument("--churn-seconds", type=float, default=30)
    p.add_argument("--sample-seconds", type=float, default=60)
    p.add_argument("--l4-rate", type=float, default=50, help="new L4 connections per second")
    p.add_argument("--http-rate", type=float, default=100, help="HTTP requests per second")
    p.add_argument("--rotation-seconds", type=float, default=60,
                   help="every workload certificate must be replaced at least every twice this")
    p.add_argument("--extra-pod", help="pod (`lab up --extra-pod`) the churn takes out of the "
                   "mesh and back in; none: no pod steps")
    a = p.parse_args()
    if a.warmup_minutes is None:
        a.warmup_minutes = min(5.0, a.minutes / 3)
    return a


def extra_pod(status, name):
    """churn.ExtraPod for pod `name` of the lab: the ztunnels that must see it leave and rejoin
    the mesh are its node's (which serves it) and the client's (which picks HBONE or plaintext)."""
    pods = {p["name"]: p for p in status["pods"]}
    if name not in pods:
        sys.exit(f"soak: --extra-pod {name}: the lab has no such pod (lab up --extra-pod)")
    netns = {n["name"]: n["netns"] for n in status["nodes"]}
    nodes = [pods[name]["node"]]
    if pods["client"]["node"] not in nodes:
        nodes.append(pods["client"]["node"])
    return churn.ExtraPod(name, pods[name]["ipv4"], [netns[n] for n in nodes])


class Stop(Exception):
    pass


def on_signal(signum, _frame):
    raise Stop(signal.Signals(signum).name)


class SoakRun:
    """One run against the lab that is up: traffic, churn and samples until the deadline."""

    def __init__(self, a, requests_file, churn_file):
        self.a = a
        status = sampler.lab_status(a.ctl, a.lab)
        pod_ips = {p["name"]: p["ipv4"] for p in status["pods"]}
        extra = None
        if a.extra_pod:
            extra = extra_pod(status, a.extra_pod)
        self.expect = expectations.Expectations({
            "l4:v1": "allow", "l4:v2": "allow", "http:/": "allow",
            "http:" + traffic.L7_PATH: "allow", "route": "split80"})
        self.churn = churn.Churn(status["config_dir"], os.path.join(status["run_dir"], "logs"),
                                 pod_ips, VIP, self.expect, extra)
        self.rotation = rotation.RotationWatch(status, a.rotation_seconds,
                                               os.path.join(a.out, "rotations.csv"))
        self.samples = sampler.Sampler(a.ctl, a.lab, os.path.join(a.out, "daemons.csv"))
        self.steps = []
        self.queue = traffic.OutcomeQueue()
        self.loads = [traffic.L4Load(a.l4_rate, [("l4:v1", pod_ips["my-app-v1"]),
                                                 ("l4:v2", pod_ips["my-app-v2"])], self.queue.put),
                      traffic.HttpLoad(a.http_rate, VIP, self.queue.put)]
        self.requests_file, self.churn_file = requests_file, churn_file
        self.requests_csv = csv.DictWriter(requests_file, fieldnames=[
            "elapsed_s", "kind", "ok", "denied", "churn-window", "unexpected"])
        self.requests_csv.writeheader()
        self.churn_csv = csv.writer(churn_file)
        self.churn_csv.writerow(["elapsed_s", "step", "seconds_to_effect", "failure"])

    def elapsed(self):
        return round(time.time() - self.samples.begin)

    def record_step(self, step):
        self.steps.append(step)
        self.churn_csv.writerow([round(step.start - self.samples.begin, 1), step.name,
                                 " ".join(f"{s:.3f}" for s in step.seconds), step.failure])
        self.churn_file.flush()
        if step.failure:
            print(f"soak: CHURN FAILED {step.name}: {step.failure}", flush=True)

    def record_requests(self):
        minute = self.expect.take_minute()
        for kind in ("l4", "http"):
            row = {"elapsed_s": self.elapsed(), "kind": kind}
            for verdict in ("ok", "denied", "churn-window", "unexpected"):
                row[verdict] = minute.get((kind, verdict), 0)
            self.requests_csv.writerow(row)
        self.requests_file.flush()

    def loop(self, seconds):
        """Churn, classification and samples while the loads run."""
        t0 = time.time()
        next_churn, next_sample = t0 + self.a.churn_seconds, t0 + self.a.sample_seconds
        while time.time() < t0 + seconds:
            time.sleep(1)
            self.samples.check_alive()
            self.rotation.poll(self.samples.begin)
            now = time.time()
            if now >= next_churn:
                self.record_step(self.churn.step())
                next_churn += self.a.churn_seconds
            self.expect.classify(self.queue.take_ended_before(time.time()))
            if now >= next_sample:
                self.samples.sample()
                self.record_requests()
                print(report.progress_line(self.elapsed(), self.samples, self.expect),
                      flush=True)
                next_sample += self.a.sample_seconds

    def run(self):
        """Runs to the end (or a signal) and returns the report.Result."""
        t0, interrupted = time.time(), ""
        try:
            self.record_step(self.churn.setup())
            self.rotation.poll(self.samples.begin, force=True)
            self.samples.sample()
            for load in self.loads:
                load.start()
            t0 = time.time()
            self.loop(self.a.minutes * 60)
        except Stop as e:
            interrupted = e.args[0]
            print(f"soak: interrupted by {interrupted}; stopping and reporting", flush=True)
        finally:
            for load in self.loads:
                load.stop()
        duration = time.time() - t0
        self.expect.classify(self.queue.take_ended_before(float("inf")))
        self.samples.check_alive()
        self.rotation.poll(self.samples.begin, force=True)
        self.samples.sample()
        self.record_requests()
        self.churn.restore()
        self.samples.close()
        self.rotation.close()
        planned = {"l4": self.a.l4_rate * duration, "http": self.a.http_rate * duration}
        return report.Result(samples=self.samples, expect=self.expect, steps=self.steps,
                             duration=duration, planned=planned, interrupted=interrupted,
                             rotation=self.rotation)


def main():
    a = parse_args()
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "driver.pid"), "w") as f:
        f.write(f"{os.getpid()}\n")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"soak: {a.minutes:g} min, L4 {a.l4_rate:g} conn/s + HTTP {a.http_rate:g} req/s, "
          f"churn every {a.churn_seconds:g} s, samples every {a.sample_seconds:g} s, "
          f"warm-up {a.warmup_minutes:g} min; output in {a.out}", flush=True)
    with open(os.path.join(a.out, "requests.csv"), "w", newline="") as requests, \
            open(os.path.join(a.out, "churn.csv"), "w", newline="") as churn_file:
        result = SoakRun(a, requests, churn_file).run()
    limits = report.Limits(warmup_s=a.warmup_minutes * 60, rss_growth_mb=RSS_GROWTH_MB,
                           rss_growth_pct=RSS_GROWTH_PCT, fd_growth=FD_GROWTH,
                           split_tolerance=SPLIT_TOLERANCE, min_achieved=MIN_ACHIEVED)
    text, failures = report.render(result, limits)
    with open(os.path.join(a.out, "report.txt"), "w") as f:
        f.write(text)
    print(text, flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
