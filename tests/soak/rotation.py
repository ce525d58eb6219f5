"""Certificate rotation during the soak run. scripts/soak.sh brings the lab up with
`--cert-ttl` (default 180 s: the CA backdates notBefore by a minute and the daemons renew at half
the validity, so every workload certificate is replaced about every 60 s).

Every POLL_S the driver reads istio_cert_expiry_seconds{identity} (the notAfter of each
certificate the daemon holds) from the metrics endpoint of every node's ztunnel and of the
waypoint, each inside its network namespace. A new notAfter for an identity is a rotation. An
identity a daemon held for longer than MAX_GAP_FACTOR x the expected interval without a new
certificate is a failure, as is a daemon that never showed a certificate. The stretch of an
identity starts when it is first seen (so the first one may be shorter than it really was) and
ends when the daemon drops it (a pod that left the mesh).
"""
import collections
import csv
import re
import subprocess
import time

POLL_S = 10.0
MAX_GAP_FACTOR = 2.0
METRICS_PORT = 15020
EXPIRY = re.compile(r'^istio_cert_expiry_seconds\{[^}]*identity="([^"]+)"[^}]*\}\s+(\S+)',
                    re.MULTILINE)


def netns_get(netns, port, path, timeout=2):
    """GET http://127.0.0.1:<port><path> inside netns (root; the driver's own netns is the
    client pod's): the body, or None when it does not answer 200."""
    try:
        r = subprocess.run(["ip", "netns", "exec", netns, "curl", "-sf", "-m", str(timeout),
                            f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True,
                           timeout=timeout + 5)
    except subprocess.TimeoutExpired:
        return None
    return r.stdout if r.returncode == 0 else None


def expiries(metrics_text):
    """{identity: notAfter (Unix seconds)} from a daemon's Prometheus text."""
    return {m.group(1): float(m.group(2)) for m in EXPIRY.finditer(metrics_text)}


class Stretch:
    """One identity held by one daemon, from first sight until dropped."""

    def __init__(self, identity, not_after, t):
        self.identity, self.not_after, self.since = identity, not_after, t
        self.intervals = []   # seconds between consecutive rotations
        self.rotations = 0
        self.flagged = False  # a too-long gap of this stretch was reported already


class RotationWatch:
    def __init__(self, status, expected_s, csv_path):
        """status: `ambitctl lab status -o json`; expected_s: the interval rotations must keep;
        csv_path: one row per rotation seen."""
        self.expected_s, self.limit_s = expected_s, MAX_GAP_FACTOR * expected_s
        self.targets = {f"{n['name']}/ztunnel": n["netns"] for n in status["nodes"]}
        self.targets.update({p["name"]: p["netns"] for p in status["pods"]
                             if p["name"] == "waypoint"})
        self.held = {d: {} for d in self.targets}            # daemon -> identity -> Stretch
        self.done = {d: [] for d in self.targets}            # daemon -> [ended Stretch]
        self.unreachable = collections.Counter()             # daemon -> failed polls
        self.failures = []
        self.next_poll = 0.0
        self._csv_file = open(csv_path, "w", newline="")
        self._csv = csv.writer(self._csv_file)
        self._csv.writerow(["elapsed_s", "daemon", "identity", "not_after_unix", "since_last_s"])

    def close(self):
        self._csv_file.close()

    def poll(self, begin, force=False):
        """Reads every daemon once if POLL_S passed since the last poll (or force)."""
        now = time.time()
        if now < self.next_poll and not force:
            return
        self.next_poll = now + POLL_S
        for daemon, netns in self.targets.items():
            text = netns_get(netns, METRICS_PORT, "/metrics")
            if text is None:
                self.unreachable[daemon] += 1
                continue
            self._observe(daemon, expiries(text), now, begin)

    def _observe(self, daemon, seen, now, begin):
        held = self.held[daemon]
        for identity in [i for i in held if i not in seen]:
            self.done[daemon].append(held.pop(identity))
        for identity, not_after in seen.items():
            s = held.get(identity)
            if s is None:
                held[identity] = Stretch(identity, not_after, now)
                continue
            if not_after != s.not_after:
                if s.rotations:
                    s.intervals.append(now - s.since)
                self._csv.writerow([round(now - begin, 1), daemon, identity, not_after,
                                    round(now - s.since, 1) if s.rotations else ""])
                self._csv_file.flush()
                s.rotations += 1
                s.not_after, s.since, s.flagged = not_after, now, False
            elif now - s.since > self.limit_s and not s.flagged:
                s.flagged = True
                self.failures.append(
                    f"{daemon}: certificate of {identity} not rotated for {now - s.since:.0f} s "
                    f"(since {s.since - begin:.0f} s; limit {MAX_GAP_FACTOR:g} x "
                    f"{self.expected_s:g} s)")
                print(f"soak: ROTATION LATE {self.failures[-1]}", flush=True)

    def table(self):
        """(report lines, [failed checks])."""
        lines = [f"certificate rotation (expected every {self.expected_s:g} s, limit "
                 f"{self.limit_s:g} s, polled every {POLL_S:g} s):",
                 f"{'DAEMON':<14} {'identities':>10} {'rotations':>9} {'interval mean':>13} "
                 f"{'max':>6}  unreachable polls"]
        failures = list(self.failures)
        for daemon in sorted(self.targets):
            stretches = self.done[daemon] + list(self.held[daemon].values())
            rotations = sum(s.rotations for s in stretches)
            intervals = [i for s in stretches for i in s.intervals]
            mean = f"{sum(intervals) / len(intervals):.1f}s" if intervals else "-"
            top = f"{max(intervals):.0f}s" if intervals else "-"
            lines.append(f"{daemon:<14} {len({s.identity for s in stretches}):>10} {rotations:>9} "
                         f"{mean:>13} {top:>6}  {self.unreachable[daemon]}")
            if not stretches:
                failures.append(f"{daemon}: no certificate seen on its metrics endpoint")
        return lines, failures
