"""The soak run's final tables and verdict: per daemon first vs last sample and growth, requests
by kind and verdict with causes, churn steps with their time to effect, certificate rotations
per daemon (rotation.py), and the failed checks."""
import collections
import dataclasses

import sampler


@dataclasses.dataclass
class Limits:
    warmup_s: float
    rss_growth_mb: float
    rss_growth_pct: float
    fd_growth: int
    split_tolerance: float
    min_achieved: float


@dataclasses.dataclass
class Result:
    samples: object      # sampler.Sampler
    expect: object       # expectations.Expectations
    steps: list          # [churn.StepResult]
    duration: float      # seconds of traffic
    planned: dict        # kind -> requests the rates ask for over the duration
    interrupted: str     # signal name, or ""
    rotation: object = None  # rotation.RotationWatch


def progress_line(elapsed, samples, expect):
    rss = " ".join(f"{d}={rows[-1]['rss_kb'] / 1024:.1f}M/{rows[-1]['fds']}fd"
                   for d, rows in sorted(samples.rows.items()))
    c = expect.counts
    return (f"soak: {elapsed // 60:3d} min  l4 ok={c[('l4', 'ok')]} denied={c[('l4', 'denied')]} "
            f"unexpected={c[('l4', 'unexpected')]}  http ok={c[('http', 'ok')]} "
            f"denied={c[('http', 'denied')]} unexpected={c[('http', 'unexpected')]}  "
            f"restarts={len(samples.restarts)}  {rss}")


def daemon_table(result, limits, failures):
    lines = [f"{'DAEMON':<14} {'PID':>7} {'RSS first':>9} {'warm':>7} {'last':>7} "
             f"{'growth':>8} {'/hour':>8} {'FDS first':>9} {'warm':>5} {'last':>5} "
             f"{'THREADS':>9} {'CPU s':>7} {'CPU %':>6}"]
    for daemon, rows in sorted(result.samples.rows.items()):
        first, last = rows[0], rows[-1]
        warm = sampler.at_or_after(rows, limits.warmup_s)
        span_h = max(last["elapsed_s"] - warm["elapsed_s"], 1) / 3600
        growth_mb = (last["rss_kb"] - warm["rss_kb"]) / 1024
        growth_pct = 100 * growth_mb * 1024 / max(warm["rss_kb"], 1)
        cpu = last["cpu_s"] - first["cpu_s"]
        wall = max(last["elapsed_s"] - first["elapsed_s"], 1)
        lines.append(
            f"{daemon:<14} {last['pid']:>7} {first['rss_kb'] / 1024:>8.1f}M "
            f"{warm['rss_kb'] / 1024:>6.1f}M {last['rss_kb'] / 1024:>6.1f}M "
            f"{growth_mb:>+7.2f}M {growth_mb / span_h:>+7.1f}M {first['fds']:>9} "
            f"{warm['fds']:>5} {last['fds']:>5} {first['threads']:>4}->{last['threads']:<4} "
            f"{cpu:>7.1f} {100 * cpu / wall:>6.1f}")
        limit_mb = max(limits.rss_growth_mb, limits.rss_growth_pct / 100 * warm["rss_kb"] / 1024)
        if growth_mb > limit_mb:
            failures.append(f"{daemon}: RSS grew {growth_mb:+.2f} MB ({growth_pct:+.1f}%) after "
                            f"warm-up, limit max({limits.rss_growth_mb:g} MB, "
                            f"{limits.rss_growth_pct:g}%)")
        if last["fds"] - warm["fds"] > limits.fd_growth:
            failures.append(f"{daemon}: open fds grew {warm['fds']} -> {last['fds']} after "
                            f"warm-up, limit +{limits.fd_growth}")
    for elapsed, daemon, what in result.samples.restarts:
        failures.append(f"{daemon} died or restarted at {elapsed} s ({what})")
    lines.append(f"restarts seen: {len(result.samples.restarts)}")
    return lines


def request_table(result, limits, failures):
    c = result.expect.counts
    lines = [f"{'KIND':<6} {'planned':>9} {'done':>9} {'ok':>9} {'denied':>8} "
             f"{'in-churn':>9} {'UNEXPECTED':>10}"]
    for kind in ("l4", "http"):
        done = sum(n for (k, _), n in c.items() if k == kind)
        planned = int(result.planned[kind])
        lines.append(f"{kind:<6} {planned:>9} {done:>9} {c[(kind, 'ok')]:>9} "
                     f"{c[(kind, 'denied')]:>8} {c[(kind, 'churn-window')]:>9} "
                     f"{c[(kind, 'unexpected')]:>10}")
        if c[(kind, "unexpected")]:
            failures.append(f"{kind}: {c[(kind, 'unexpected')]} unexpected request outcomes "
                            "outside the churn windows")
        if planned and done < limits.min_achieved * planned:
            failures.append(f"{kind}: only {done} of {planned} planned requests were sent "
                            f"(< {limits.min_achieved:.0%}): the load generator fell behind")
    lines.append("outcomes other than ok, by cause:")
    for (kind, verdict, cause), n in sorted(result.expect.causes.items()):
        lines.append(f"  {kind:<5} {verdict:<13} {cause:<40} {n:>8}")
    for o in result.expect.unexpected_examples[:5]:
        begin = result.samples.begin
        lines.append(f"  e.g. {o.kind} {o.key} at {o.start - begin:.3f}-{o.end - begin:.3f} s: "
                     f"{o.cause}")
    v = result.expect.versions
    total = v["v1"] + v["v2"]
    if total:
        share = v["v1"] / total
        lines.append(f"split under VirtualService 80/20 (outside churn windows): "
                     f"v1 {v['v1']} ({share:.1%}), v2 {v['v2']}")
        if total >= 500 and abs(share - 0.8) > limits.split_tolerance:
            failures.append(f"the 80/20 split gave v1 {share:.1%} of {total} answers "
                            f"(tolerance {limits.split_tolerance:.0%})")
    return lines


def churn_table(result, failures):
    by_name = collections.OrderedDict()
    for s in result.steps:
        by_name.setdefault(s.name, []).append(s)
        if s.failure:
            failures.append(f"churn step {s.name}: {s.failure}")
    lines = [f"{'CHURN STEP':<15} {'runs':>5} {'failed':>6} {'to effect: mean':>16} {'max':>7}"]
    for name, runs in by_name.items():
        took = [sum(s.seconds) for s in runs]
        lines.append(f"{name:<15} {len(runs):>5} {sum(1 for s in runs if s.failure):>6} "
                     f"{sum(took) / len(took):>15.3f}s {max(took):>6.3f}s")
    return lines


def render(result, limits):
    """(report text, [failed checks])."""
    failures = []
    lines = [f"soak result: {result.duration / 60:.1f} min of traffic"
             + (f" (interrupted by {result.interrupted})" if result.interrupted else ""), ""]
    lines += daemon_table(result, limits, failures) + [""]
    lines += request_table(result, limits, failures) + [""]
    lines += churn_table(result, failures) + [""]
    if result.rotation is not None:
        rotation_lines, rotation_failures = result.rotation.table()
        lines += rotation_lines + [""]
        failures += rotation_failures
    if result.interrupted:
        failures.append(f"interrupted by {result.interrupted}")
    if failures:
        lines.append(f"FAIL ({len(failures)} checks):")
        lines += [f"  - {f}" for f in failures]
    else:
        lines.append("PASS: no restart, RSS and fds flat after warm-up, no unexpected failure, "
                     "every change in effect within 5 s, certificates rotating in time")
    return "\n".join(lines) + "\n", failures
