"""Per-daemon resource samples for the soak run, read from /proc/<pid> (the driver runs in the
client pod's network namespace but shares the host's PID namespace and /proc).

The daemons are every node daemon `ambitctl lab status` lists (agent and ztunnel per node; a
Kubernetes-mode lab would add ambit-control), the waypoint pod's process and the lab's
supervisor. A daemon whose PID or start time changes, or whose supervisor restart count grows,
has died and been restarted: that is recorded as a restart event.
"""
import csv
import json
import os
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
CSV_FIELDS = ["time_utc", "elapsed_s", "daemon", "pid", "rss_kb", "fds", "threads", "cpu_s",
              "restarts"]


def lab_status(ctl, lab):
    out = subprocess.run([ctl, "lab", "status", "--name", lab, "-o", "json"], check=True,
                         capture_output=True, text=True, timeout=30).stdout
    return json.loads(out)


def lab_daemons(status):
    """{daemon name: (pid, supervisor restarts)} for the processes the soak watches."""
    found = {f"{d['node']}/{d['name']}": (d["pid"], d["restarts"]) for d in status["daemons"]}
    for p in status["pods"]:
        if p["name"] == "waypoint":
            found["waypoint"] = (p["pid"], p["restarts"])
    sup = status.get("supervisor", {})
    if sup.get("pid"):
        found["supervisor"] = (sup["pid"], sup.get("restarts", 0))
    return found


def start_time(pid):
    """/proc/<pid>/stat field 22 (clock ticks after boot), or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[19])


def proc_sample(pid):
    """RSS (KiB), open fds, threads and CPU seconds (user + system) of pid; None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    return {"rss_kb": int(status["VmRSS"].split()[0]), "fds": fds,
            "threads": int(status["Threads"]),
            "cpu_s": (int(fields[11]) + int(fields[12])) / CLK_TCK}


class Sampler:
    def __init__(self, ctl, lab, csv_path):
        self.ctl, self.lab = ctl, lab
        self.begin = time.time()
        self.rows = {}          # daemon -> [sample dicts]
        self.restarts = []      # (elapsed s, daemon, what)
        self._known = {}        # daemon -> (pid, start time, supervisor restarts)
        self._csv_file = open(csv_path, "w", newline="")
        self._csv = csv.DictWriter(self._csv_file, fieldnames=CSV_FIELDS)
        self._csv.writeheader()

    def close(self):
        self._csv_file.close()

    def _restart(self, daemon, what):
        event = (round(time.time() - self.begin, 1), daemon, what)
        self.restarts.append(event)
        print(f"soak: RESTART {daemon} at {event[0]} s: {what}", flush=True)

    def check_alive(self):
        """Cheap per-second check that every known daemon still runs with the same identity."""
        for daemon, (pid, started, _) in list(self._known.items()):
            if start_time(pid) != started:
                self._restart(daemon, f"pid {pid} exited")
                self._known[daemon] = (pid, None, self._known[daemon][2])

    def sample(self):
        """One sample of every daemon; picks up restarted daemons' new PIDs."""
        elapsed = round(time.time() - self.begin, 1)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for daemon, (pid, restarts) in sorted(lab_daemons(lab_status(self.ctl, self.lab)).items()):
            previous = self._known.get(daemon)
            if previous is not None:
                old_pid, old_start, old_restarts = previous
                if restarts > old_restarts and old_start is not None:
                    self._restart(daemon, f"supervisor restarts {old_restarts} -> {restarts}")
                elif pid != old_pid and old_start is not None:
                    self._restart(daemon, f"pid {old_pid} -> {pid}")
            s = proc_sample(pid)
            self._known[daemon] = (pid, start_time(pid), restarts)
            if s is None:
                continue
            row = {"time_utc": now, "elapsed_s": elapsed, "daemon": daemon, "pid": pid,
                   "restarts": restarts, **s}
            self.rows.setdefault(daemon, []).append(row)
            self._csv.writerow(row)
        self._csv_file.flush()


def at_or_after(rows, elapsed):
    """The first sample taken at or after `elapsed` seconds (the last one if none is)."""
    return next((r for r in rows if r["elapsed_s"] >= elapsed), rows[-1])
