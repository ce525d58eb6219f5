"""What tests/bench/bench.py measures with: subprocesses with a bound, CPU and memory of a
process tree from /proc, and the load generators' output (hey, wrk)."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
# The name suffix of a reload_stall_bench entry's twin: the longest stall of the same data
# thread idle for 10 s before the reload, about as long as it takes (the machine's floor for that
# measurement).
IDLE_SUFFIX = " (idle 10 s, before the reload)"


class ScenarioError(Exception):
    pass


class Interrupted(Exception):
    pass


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd, timeout, check=True, input_text=None):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input_text)
    except subprocess.TimeoutExpired as e:
        raise ScenarioError(f"{Path(cmd[0]).name} timed out after {timeout}s") from e
    if check and p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        raise ScenarioError(f"{' '.join(cmd[:6])} exited {p.returncode}: {' | '.join(tail)}")
    return p


# ---------------------------------------------------------------- /proc accounting

def proc_tree(root):
    """root and its descendants (nginx workers, ...)."""
    children = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def machine_busy_seconds():
    """CPU-seconds the whole machine spent busy (all CPUs: user, nice, system, irq, softirq,
    steal; not idle or iowait) since boot."""
    f = Path("/proc/stat").read_text().splitlines()[0].split()
    if f[0] != "cpu" or len(f) < 9:
        raise ScenarioError(f"/proc/stat: unexpected first line {' '.join(f)!r}")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in f[1:9])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        f = stat[stat.rindex(")") + 2:].split()
        total += int(f[11]) + int(f[12])  # utime, stime
    return total / CLK_TCK


def status_kb(pid, key):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid):
    """Proportional set size: shared library pages split among the processes mapping them."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_hwm(pids):
    for pid in pids:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            pass


# ---------------------------------------------------------------- output parsers

def parse_hey(out):
    r = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        r["rps"] = float(m.group(1))
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s*{pct}% in ([\d.]+) secs", out, re.M)
        if m:
            r[f"p{pct}"] = float(m.group(1)) * 1000.0
    ok = sum(int(n) for n in re.findall(r"\[2\d\d\]\s+(\d+) responses", out))
    bad = sum(int(n) for n in re.findall(r"\[[1345]\d\d\]\s+(\d+) responses", out))
    errs = sum(int(n) for n in re.findall(r"^\s*\[(\d+)\]\s+Get ", out, re.M))
    r.update(ok=ok, bad=bad, errors=errs)
    return r


def parse_wrk(out):
    r = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        r["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in", out)
    r["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["sock_errors"] = sum(int(x) for x in m.groups()) if m else 0
    return r
