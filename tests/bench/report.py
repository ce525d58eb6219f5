"""Markdown report of a tests/bench run (see bench.py): tables, ratios against the baselines
measured in the same run, and the goals with met / not met."""

import os
import platform
import re
import statistics
import subprocess
import time

from measure import IDLE_SUFFIX

HTTP_ROWS = [
    ("direct", "direct (no mesh)"),
    ("ambit-l4", "ambit L4 (2 ztunnels, HBONE mTLS)"),
    ("ambit-waypoint", "ambit + waypoint (VIP, 80/20)"),
    ("stunnel", "stunnel pair (L4 alternative)"),
    ("nginx", "nginx 80/20 (L7 alternative)"),
    ("haproxy", "haproxy 80/20 (L7 alternative)"),
    ("relay", "2 plain TCP relays (floor of a 2-proxy path)"),
]
IPERF_ROWS = [("direct", "direct (no mesh)"), ("ambit", "ambit L4 (2 ztunnels, HBONE mTLS)"),
              ("stunnel", "stunnel pair (TLS 1.3, same CA)"),
              ("relay", "2 plain TCP relays, no TLS (floor of a 2-proxy path)")]


def num(v, nd=2):
    if v is None:
        return "—"
    return f"{v:,.{nd}f}"


def cell(row, key, nd=2):
    if row is None:
        return "not run"
    if "failed" in row:
        return f"failed: {row['failed']}"
    v = row.get(key)
    return "failed: no number" if v is None else num(v, nd)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def get(bench, key, field):
    r = bench.rows.get(key)
    if not r or "failed" in r:
        return None
    return r.get(field)


def machine():
    model = cores = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        m = re.search(r"Model name:\s+(.*)", out)
        model = m.group(1).strip() if m else "?"
    except OSError:
        model = "?"
    cores = os.cpu_count()
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {cores} vCPU, {mem_gb:.0f} GiB RAM, Linux {platform.release()}"


def render(bench):
    L = []
    mode = "quick" if bench.quick else "full"
    L.append(f"## ambit benchmarks ({mode} run, lab `{bench.lab}`, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    L.append("")
    L.append(f"Machine: {machine()}. Run time {getattr(bench, 'elapsed', 0):.0f} s. "
             f"Durations: iperf3 {bench.t_iperf} s, fixed rate {bench.t_fixed} s, "
             f"max rate {bench.t_max} s, connection rate {bench.t_conn} s.")
    if getattr(bench, "baseline_bypass", None):
        L.append(f"Baselines ran with the namespace de-enrolled: {bench.baseline_bypass}.")
    L.append("")
    L.append("### 1. L4 throughput, cross-node (client pod node1 -> my-app-v2 pod node2, iperf3)")
    L.append("")
    L.append("| path | 1 stream Gbit/s | 8 streams Gbit/s | 1 stream vs direct | "
             "8 streams vs direct | proxy CPU-s per GB, 1 / 8 streams | machine busy, "
             "1 / 8 streams |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for key, label in IPERF_ROWS:
        row = bench.rows.get(f"iperf/{key}")
        r1 = ratio(get(bench, f"iperf/{key}", "gbps1"), get(bench, "iperf/direct", "gbps1"))
        r8 = ratio(get(bench, f"iperf/{key}", "gbps8"), get(bench, "iperf/direct", "gbps8"))
        cpu = "—" if key == "direct" else \
            f"{cell(row, 'cpu_per_gb1', 3)} / {cell(row, 'cpu_per_gb8', 3)}"
        busy = f"{busy_text(bench, key, 1)} / {busy_text(bench, key, 8)}"
        L.append(f"| {label} | {cell(row, 'gbps1')} | {cell(row, 'gbps8')} | "
                 f"{num(r1)}x | {num(r8)}x | {cpu} | {busy} |")
    L.append("")
    L.append("CPU-s per GB: user + system CPU of both proxies (the two ztunnels; stunnel client "
             "and server; the two relays) during the iperf3 run, divided by the GB the receiver "
             "got. The relays are haproxy in `mode tcp`, one thread each, placed like the stunnel "
             "pair: no TLS, no HTTP/2, so what two user-space hops cost by themselves here "
             "(wake-ups, copies, the kernel's TCP). Machine busy: the share of all CPUs in use "
             "during the run (`/proc/stat`; everything on the machine, iperf3 included): near "
             "100% the path is bound by CPU time, well under it by something else (a single "
             "thread, waits).")
    enc, dec = get(bench, "crypto", "encrypt_s_per_gb"), get(bench, "crypto", "decrypt_s_per_gb")
    L.append("")
    L.append(f"AES-128-GCM on this machine (`openssl speed`, 16 KiB records, user CPU): encrypt "
             f"{num(enc, 3)}, decrypt {num(dec, 3)} CPU-s per GB — what a user-space TLS path "
             "adds per byte to a plain relay's cost (this kernel has no kTLS).")
    L.append("")
    L.append(f"### 2-3. HTTP/1.1, 1 KiB responses, 16 "
             "connections")
    L.append("")
    L.append("Fixed rate: `hey -c 16 -q 62.5` (1,000 req/s total). Max rate: `wrk -t2 -c16` "
             "(keep-alive). New connections: `wrk -t2 -c16 -H 'Connection: close'` "
             "(connect, 1 request, close). The L4 rows target my-app-v2's pod IP (cross-node); "
             "the L7 rows split 80/20 over my-app-v1 (node1) and my-app-v2 (node2).")
    L.append("")
    L.append("| path | achieved req/s | p50 ms | p90 ms | p99 ms | added p50 ÷ direct p50 | "
             "max req/s | max vs direct | new conn/s | conn/s vs direct |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    d50 = get(bench, "fixed/direct", "p50")
    dmax = get(bench, "max/direct", "rps")
    dconn = get(bench, "conn/direct", "rps")
    for key, label in HTTP_ROWS:
        f = bench.rows.get(f"fixed/{key}")
        p50 = get(bench, f"fixed/{key}", "p50")
        added = None if p50 is None or d50 is None or key == "direct" else (p50 - d50) / d50
        conn = bench.rows.get(f"conn/{key}")
        conn_cell = cell(conn, "rps", 0) if key in ("direct", "ambit-l4", "ambit-waypoint",
                                                     "stunnel") else "—"
        L.append(f"| {label} | {cell(f, 'rps', 0)} | {cell(f, 'p50')} | {cell(f, 'p90')} | "
                 f"{cell(f, 'p99')} | {num(added) + 'x' if added is not None else '—'} | "
                 f"{cell(bench.rows.get(f'max/{key}'), 'rps', 0)} | "
                 f"{num(ratio(get(bench, f'max/{key}', 'rps'), dmax))}x | {conn_cell} | "
                 f"{num(ratio(get(bench, f'conn/{key}', 'rps'), dconn)) + 'x' if conn_cell != '—' else '—'} |")
    L.append("")
    L.append("### 4. Cost at 1,000 req/s (during the fixed-rate run)")
    L.append("")
    L.append("CPU = utime+stime from /proc/<pid>/stat (process and children) before/after; "
             "CPU-seconds per 1,000 requests equals vCPU per 1,000 req/s. Peak RSS = VmHWM "
             "after `echo 5 > clear_refs`; it counts every touched page of the binary and its "
             "shared libraries (ambit's ztunnel, agent and waypoint link theirs statically and "
             "load only glibc; nginx and haproxy load OpenSSL, PCRE...). After the run: "
             "private = RssAnon (the process's own heap and stacks), PSS = shared pages "
             "divided among the processes mapping them.")
    L.append("")
    L.append("| scenario | process | CPU-s per 1,000 req (vCPU per 1k req/s) | RSS before MB | "
             "peak RSS MB | private MB | PSS MB |")
    L.append("|---|---|---:|---:|---:|---:|---:|")
    for key, label in HTTP_ROWS:
        f = bench.rows.get(f"fixed/{key}")
        if not f or "failed" in f:
            if key != "direct":
                L.append(f"| {label} | — | {cell(f, 'x')} | — | — | — | — |")
            continue
        for proc, c in f.get("cost", {}).items():
            L.append(f"| {label} | {proc} | {num(c['cpu_per_1k'], 4)} | "
                     f"{num(c.get('rss0_mb'), 1)} | {num(c['hwm_mb'], 1)} | "
                     f"{num(c.get('anon_mb'), 1)} | {num(c.get('pss_mb'), 1)} |")
    idle = bench.rows.get("idle")
    L.append("")
    L.append(f"### 4b. ztunnel memory with {bench.idle_conns:,} idle connections held through "
             "the mesh (client pod -> my-app-v2)")
    L.append("")
    L.append("| ztunnel | RSS before MB | RSS holding MB | per 1,000 connections MB |")
    L.append("|---|---:|---:|---:|")
    for node in ("node1", "node2"):
        if not idle or "failed" in idle:
            L.append(f"| {node} | {cell(idle, 'x')} | — | — |")
            continue
        b, d = idle["before"][node], idle["during"][node]
        L.append(f"| {node} | {num(b, 1)} | {num(d, 1)} | "
                 f"{num((d - b) * 1000.0 / idle['conns'], 2)} |")
    micro = bench.rows.get("micro")
    L.append("")
    L.append("### 5. Micro-benchmarks (Google Benchmark, build/bench/*, real time)")
    L.append("")
    L.append("| benchmark | time |")
    L.append("|---|---:|")
    if not micro or "failed" in micro:
        L.append(f"| micro | {cell(micro, 'x')} |")
    else:
        for name, us in micro.items():
            t = f"{us / 1000.0:,.2f} ms" if us >= 1000 else f"{us:,.3f} µs"
            L.append(f"| {name} | {t} |")
    prof = bench.rows.get("profile")
    if prof and "failed" not in prof:
        L.append("")
        L.append("### 6. perf: self time by library, then the top user-space symbols, under "
                 "`wrk` load through the waypoint (no frame pointers: flat profile)")
        for target, lines in prof.items():
            L.append("")
            L.append(f"{target}:")
            L.append("```")
            L.extend(lines)
            L.append("```")
    L.append("")
    L.extend(goals(bench))
    if bench.failures:
        L.append("")
        L.append("Failures: " + "; ".join(bench.failures))
    L.append("")
    return "\n".join(L)


def verdict(ok):
    return "—" if ok is None else ("met" if ok else "**not met**")


def crypto_per_gb(bench):
    """CPU-seconds per GB of AES-128-GCM, encrypting once and decrypting once (the crypto row),
    or None."""
    enc, dec = get(bench, "crypto", "encrypt_s_per_gb"), get(bench, "crypto", "decrypt_s_per_gb")
    return None if enc is None or dec is None else enc + dec


def tls_ceiling_gbps(bench, streams):
    """What a two-proxy TLS path could carry at best in this run: the relays' whole-machine
    CPU per GB (iperf3 and the kernel included) plus AES-GCM's own cost, with every CPU of the
    bench's machine busy."""
    per_gb = get(bench, "iperf/relay", f"machine_per_gb{streams}")
    cpus = get(bench, "iperf/relay", "machine_cpus")
    crypto = crypto_per_gb(bench)
    if not per_gb or not cpus or crypto is None:
        return None
    return 8 * cpus / (per_gb + crypto)


def busy_text(bench, key, streams):
    b = get(bench, f"iperf/{key}", f"busy{streams}")
    return "—" if b is None else f"{b * 100:.0f}%"


def goals(bench):
    """Issue 13's goals, each against the baselines of the same run."""
    L = ["### Goals (issue 13; reported, not asserted)", "",
         "| goal | measured | verdict |", "|---|---|---|"]
    for s, label, want in ((1, "1 stream", 1.2), (8, "8 streams", 1.0)):
        r = ratio(get(bench, "iperf/ambit", f"gbps{s}"), get(bench, "iperf/stunnel", f"gbps{s}"))
        floor = ratio(get(bench, "iperf/relay", f"gbps{s}"),
                      get(bench, "iperf/stunnel", f"gbps{s}"))
        ceiling = ratio(tls_ceiling_gbps(bench, s), get(bench, "iperf/stunnel", f"gbps{s}"))
        L.append(f"| L4 throughput ≥ {want}x stunnel pair ({label}) | {num(r)}x (2 plain relays: "
                 f"{num(floor)}x; relays' cost per byte + AES-GCM with every CPU busy: "
                 f"{num(ceiling)}x; machine busy: ambit {busy_text(bench, 'ambit', s)}, stunnel "
                 f"{busy_text(bench, 'stunnel', s)}) | "
                 f"{verdict(None if r is None else r >= want)} |")
    crypto = crypto_per_gb(bench)
    for s, label in ((1, "1 stream"), (8, "8 streams")):
        r = ratio(get(bench, "iperf/ambit", f"cpu_per_gb{s}"),
                  get(bench, "iperf/stunnel", f"cpu_per_gb{s}"))
        relays = get(bench, "iperf/relay", f"cpu_per_gb{s}")
        floor = ratio(relays, get(bench, "iperf/stunnel", f"cpu_per_gb{s}"))
        tls_floor = ratio(None if relays is None or crypto is None else relays + crypto,
                          get(bench, "iperf/stunnel", f"cpu_per_gb{s}"))
        L.append(f"| proxy CPU-seconds per GB ≤ 0.8x stunnel pair ({label}) | {num(r)}x (2 plain "
                 f"relays: {num(floor)}x; relays + AES-GCM's own cost, the floor of a user-space "
                 f"TLS path: {num(tls_floor)}x) | {verdict(None if r is None else r <= 0.8)} |")
    d50 = get(bench, "fixed/direct", "p50")
    d99 = get(bench, "fixed/direct", "p99")

    def added(key, field, base):
        v = get(bench, f"fixed/{key}", field)
        return None if v is None or base is None else v - base

    l4 = added("ambit-l4", "p50", d50)
    floor = added("relay", "p50", d50)
    L.append(f"| ambit L4 added p50 at 1,000 req/s ≤ 0.4 ms | {num(l4, 2)} ms (direct p50 "
             f"{num(d50, 2)} ms; 2 plain relays add {num(floor, 2)} ms) | "
             f"{verdict(None if l4 is None else l4 <= 0.4 + 1e-9)} |")
    l4p99 = get(bench, "fixed/ambit-l4", "p99")
    sp99 = get(bench, "fixed/stunnel", "p99")
    L.append(f"| ambit L4 p99 ≤ stunnel pair p99 | {num(l4p99)} vs {num(sp99)} ms | "
             f"{verdict(None if l4p99 is None or sp99 is None else l4p99 <= sp99)} |")
    L.append(waypoint_p99_goal(bench, added("ambit-l4", "p99", d99)))
    cost = (bench.rows.get("fixed/ambit-l4") or {}).get("cost", {})
    idle = bench.rows.get("idle") or {}
    for node in ("node1", "node2"):
        c = cost.get(f"ztunnel {node}")
        mem = c["hwm_mb"] if c else None
        anon = c.get("anon_mb") if c else None
        pss = c.get("pss_mb") if c else None
        L.append(f"| ztunnel {node} peak RSS ≤ 12 MB at 1,000 req/s (Istio's figure) | "
                 f"{num(mem, 1)} MB (private {num(anon, 1)}, PSS {num(pss, 1)}) | "
                 f"{verdict(None if mem is None else mem <= 12)} |")
        per_k = None
        if "before" in idle and "failed" not in idle:
            per_k = (idle["during"][node] - idle["before"][node]) * 1000.0 / idle["conns"]
        L.append(f"| ztunnel {node} ≤ 4 MB per 1,000 idle connections | {num(per_k, 2)} MB | "
                 f"{verdict(None if per_k is None else per_k <= 4)} |")
        cpu = c["cpu_per_1k"] if c else None
        L.append(f"| ztunnel {node} vCPU per 1,000 req/s (no worse than before; Istio 0.06) | "
                 f"{num(cpu, 4)} | compare with the previous run |")
    wmax = get(bench, "max/ambit-waypoint", "rps")
    nmax = get(bench, "max/nginx", "rps")
    r = ratio(wmax, nmax)
    ceiling = waypoint_path_ceiling(bench)
    wverdict = verdict(None if r is None else r >= 1.0)
    if r is not None and r < 1.0 and ceiling and ceiling["as_cheap_as_nginx"] < 1.0:
        wverdict += " (under 1.0x on this machine even with a waypoint as cheap as nginx)"
    L.append(f"| waypoint max req/s ≥ nginx's | {num(wmax, 0)} vs {num(nmax, 0)} ({num(r)}x)"
             f"{ceiling_text(ceiling)} | {wverdict} |")
    L.append(waypoint_cpu_goal(bench))
    conn = ratio(get(bench, "conn/ambit-l4", "rps"), get(bench, "conn/direct", "rps"))
    L.append(f"| new connections/s no worse than before | ambit L4 {num(conn)}x direct | "
             f"compare with the previous run |")
    L.append(reload_stall_goal(bench))
    return L


def paired_rounds(bench):
    """The rounds of the paired windows (bench.py's paired_cpu), none when it failed."""
    return (bench.rows.get("paired") or {}).get("rounds") or []


def rounds_note(bench):
    """The note on a row when the alternating windows stopped early, e.g. " (3 of 5 rounds;
    round 4: ...)"; empty when every round ran."""
    row = bench.rows.get("paired") or {}
    if "failed_round" not in row:
        return ""
    return (f" ({len(paired_rounds(bench))} of {bench.paired_rounds} rounds; "
            f"{row['failed_round']})")


def paired_ratios(bench):
    """The waypoint's CPU per request over nginx's in each round of the paired windows."""
    return [r["waypoint"] / r["nginx"] for r in paired_rounds(bench) if r.get("nginx")]


def waypoint_p99_goal(bench, l4_added_p99):
    """Judged on the alternating rounds when they ran: in each, the waypoint's p99 against
    nginx's p99 + (ambit L4 p99 - direct p99) of the same minute; the verdict is on the median
    of the rounds' margins. The phases' windows are shown next to it."""
    wp99 = get(bench, "fixed/ambit-waypoint", "p99")
    np99 = get(bench, "fixed/nginx", "p99")
    bound = None if np99 is None or l4_added_p99 is None else np99 + l4_added_p99
    phases = (f"{num(wp99)} vs {num(np99)} + {num(l4_added_p99)} = {num(bound)} ms")
    rounds = [r for r in paired_rounds(bench)
              if all(f"{k}_p99" in r for k in ("direct", "nginx", "l4", "waypoint"))]
    if not rounds:
        ok = None if wp99 is None or bound is None else wp99 <= bound + 1e-9
        measured = phases
    else:
        bounds = [r["nginx_p99"] + r["l4_p99"] - r["direct_p99"] for r in rounds]
        margins = [b - r["waypoint_p99"] for r, b in zip(rounds, bounds)]
        median = statistics.median(margins)
        ok = median >= -1e-9
        each = ", ".join(f"{num(r['waypoint_p99'])} vs {num(b)}" for r, b in zip(rounds, bounds))
        measured = (f"alternating windows{rounds_note(bench)}: {each} ms (bound − waypoint "
                    f"p99, median {num(median)} ms); the phases' windows: {phases}")
    return (f"| ambit + waypoint p99 ≤ nginx p99 + ambit L4 added p99 | {measured} | "
            f"{verdict(ok)} |")


def waypoint_cpu_goal(bench):
    """Judged on the median of the paired windows' ratios (the two measured in the same
    minutes) when they ran; the phases' own windows are shown next to it."""
    wcost = (bench.rows.get("fixed/ambit-waypoint") or {}).get("cost", {}).get("waypoint")
    ncost = (bench.rows.get("fixed/nginx") or {}).get("cost", {}).get("nginx")
    wcpu = wcost["cpu_per_1k"] if wcost else None
    ncpu = ncost["cpu_per_1k"] if ncost else None
    phases = (f"{num(wcpu, 4)} vs {num(ncpu, 4)} vCPU per 1,000 req/s "
              f"({num(ratio(wcpu, ncpu))}x)")
    ratios = paired_ratios(bench)
    if not ratios:
        measured = phases
        ok = None if wcpu is None or ncpu is None else wcpu <= ncpu
    else:
        median = statistics.median(ratios)
        measured = (f"alternating windows{rounds_note(bench)}: "
                    f"{', '.join(num(r) + 'x' for r in ratios)} (median {num(median)}x); the "
                    f"phases' windows: {phases}")
        ok = median <= 1.0
    return f"| waypoint CPU per request ≤ nginx's | {measured} | {verdict(ok)} |"


def waypoint_path_ceiling(bench):
    """An upper bound on the ambit + waypoint path's max rate against nginx's on this machine,
    from the CPU each process and the whole machine spent per 1,000 requests during the two
    max-rate runs: with every CPU busy at those per-request costs, the path with a waypoint
    exactly as cheap as nginx (the waypoint's share replaced by nginx's) and with a waypoint
    that costs nothing (its share removed) reach at most these fractions of nginx's measured
    rate. The path keeps the two ztunnel hops the nginx row does not have. A model: per-request
    costs can fall at higher rates. None without the numbers."""
    a = bench.rows.get("max/ambit-waypoint") or {}
    n = bench.rows.get("max/nginx") or {}
    try:
        wp = a["max_cost"]["waypoint"]
        zt = a["max_cost"]["ztunnel node1"] + a["max_cost"]["ztunnel node2"]
        ng = n["max_cost"]["nginx"]
        ma, mn = a["machine_per_1k"], n["machine_per_1k"]
        ua, un = a["machine_cpus"], n["machine_cpus"]
        nmax = n["rps"]
    except (KeyError, TypeError):
        return None
    rest = ma - wp  # the path without its waypoint: ztunnels, client, app, kernel, the rest
    cpus = os.cpu_count() or 1
    if rest <= 0 or nmax <= 0:
        return None
    return {"as_cheap_as_nginx": cpus * 1000.0 / (rest + ng) / nmax,
            "free": cpus * 1000.0 / rest / nmax, "cpus": cpus, "ztunnels": zt, "waypoint": wp,
            "nginx": ng, "ambit_machine": ma, "nginx_machine": mn, "ambit_cpus": ua,
            "nginx_cpus": un}


def ceiling_text(c):
    if not c:
        return ""
    return (f"; upper bound for the path with all {c['cpus']} CPUs busy: "
            f"{num(c['as_cheap_as_nginx'])}x with a waypoint as cheap as nginx, {num(c['free'])}x "
            f"with a free one (vCPU-s per 1,000 requests at max rate: ztunnels "
            f"{num(c['ztunnels'], 3)}, waypoint {num(c['waypoint'], 3)}, nginx "
            f"{num(c['nginx'], 3)}; whole machine {num(c['ambit_machine'], 3)} vs "
            f"{num(c['nginx_machine'], 3)}, busy {num(c['ambit_cpus'], 2)} vs "
            f"{num(c['nginx_cpus'], 2)} CPUs)")


def reload_stall_goal(bench):
    """The longest data-thread stall while 100k pods reload (reload_stall_bench, µs). The verdict
    is on the real-time data thread, which other processes on the machine cannot delay; the same
    thread's ticks in the 10 idle seconds before the reload (about as long as it takes) are the
    machine's floor."""
    micro = bench.rows.get("micro") or {}
    stall = {}
    for name, us in micro.items():
        for variant in ("pipeline", "pipeline_rt", "in_loop"):
            if name.startswith(f"reload_stall_bench/BM_ReloadStall/{variant}/"):
                stall[variant + ("_idle" if name.endswith(IDLE_SUFFIX) else "")] = us / 1000.0
    rt = stall.get("pipeline_rt")
    floor = stall.get("pipeline_rt_idle")
    c = (bench.rows.get("reload_stall") or {}).get("pipeline_rt") or {}
    v = verdict(None if rt is None else rt <= 1.0)
    if rt is not None and rt > 1.0 and floor is not None and floor >= rt:
        v += " (the 10 idle seconds before it have a tick as late: the machine's floor)"
    late = ""
    if "late_ticks" in c and "idle_late_ticks" in c:
        def count(key):
            return "—" if key not in c else f"{c[key]:.0f}"
        late = (f"; ticks over 1 ms late: {count('late_ticks')} in the reload, "
                f"{count('idle_late_ticks')} idle (of them attributed to kernel memory reclaim: "
                f"{count('reclaim_late_ticks')}, {count('idle_reclaim_late_ticks')})")
    return (f"| config reload of 100k pods stalls the data thread ≤ 1 ms (ConfigPipeline, "
            f"real-time data thread) | {num(rt, 3)} ms (the same thread idle 10 s before: "
            f"{num(floor, 3)} ms{late}; normal priority: {num(stall.get('pipeline'), 3)} ms; "
            f"in the data loop: {num(stall.get('in_loop'), 1)} ms) | {v} |")


def missing_numbers(bench):
    """Every scenario must have produced positive numbers (the --quick ctest asserts this)."""
    need = [(f"iperf/{k}", ("gbps1", "gbps8")) for k, _ in IPERF_ROWS]
    need += [(f"iperf/{k}", ("cpu_per_gb1", "cpu_per_gb8")) for k in ("ambit", "stunnel", "relay")]
    need += [(f"iperf/{k}", ("busy1", "busy8", "machine_per_gb1", "machine_per_gb8"))
             for k, _ in IPERF_ROWS]
    need += [("crypto", ("encrypt_s_per_gb", "decrypt_s_per_gb"))]
    need += [(f"fixed/{k}", ("rps", "p50", "p90", "p99")) for k, _ in HTTP_ROWS]
    need += [(f"max/{k}", ("rps",)) for k, _ in HTTP_ROWS]
    need += [(f"max/{k}", ("machine_per_1k", "machine_cpus")) for k in ("ambit-waypoint", "nginx")]
    need += [(f"conn/{k}", ("rps",)) for k in ("direct", "ambit-l4", "ambit-waypoint", "stunnel")]
    need += [("idle", ("conns",))]
    problems = []
    for key, fields in need:
        row = bench.rows.get(key)
        if row is None:
            problems.append(f"{key}: not run")
            continue
        if "failed" in row:
            continue  # already in bench.failures
        for f in fields:
            v = row.get(f)
            if not isinstance(v, (int, float)) or v <= 0:
                problems.append(f"{key}: {f} = {v!r}")
        for proc, c in row.get("cost", {}).items():
            if c["cpu_per_1k"] <= 0 or c["hwm_mb"] <= 0:
                problems.append(f"{key}: cost of {proc} = {c}")
        for proc, c in row.get("max_cost", {}).items():
            if c <= 0:
                problems.append(f"{key}: CPU of {proc} at max = {c}")
    micro = bench.rows.get("micro")
    if micro is None:
        problems.append("micro: not run")
    return problems + paired_problems(bench)


def paired_problems(bench):
    row = bench.rows.get("paired")
    if row is None:
        return ["paired: not run"]
    if "failed" in row:
        return []  # already in bench.failures
    rounds = paired_rounds(bench)
    if len(rounds) != bench.paired_rounds:
        return [f"paired: {len(rounds)} of {bench.paired_rounds} rounds"]
    return [f"paired: {k} = {v!r}" for r in rounds for k, v in r.items()
            if not isinstance(v, (int, float)) or v <= 0]
