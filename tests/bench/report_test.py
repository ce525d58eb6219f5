#!/usr/bin/python3
"""Unit tests of report.py's goal verdicts that are computed, not just printed: the waypoint's p99
and CPU goals over the alternating rounds, and the reload-stall row against its idle floor.
Synthetic bench rows; no lab. Run: python3 tests/bench/report_test.py (the ctest
bench_report_test)."""
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import report  # noqa: E402

IDLE = report.IDLE_SUFFIX
STALL = "reload_stall_bench/BM_ReloadStall/{}/100000/iterations:1/manual_time"


class FakeBench:
    def __init__(self, rows, paired_rounds=5):
        self.rows = rows
        self.paired_rounds = paired_rounds


def rnd(direct, nginx, l4, waypoint, cpu_nginx=0.03, cpu_waypoint=0.03):
    return {"direct_p99": direct, "nginx_p99": nginx, "l4_p99": l4, "waypoint_p99": waypoint,
            "nginx": cpu_nginx, "waypoint": cpu_waypoint}


def phases(wp99=2.0, np99=1.5, l4p99=1.5, dp99=0.5):
    return {"fixed/ambit-waypoint": {"p99": wp99}, "fixed/nginx": {"p99": np99},
            "fixed/ambit-l4": {"p99": l4p99}, "fixed/direct": {"p99": dp99}}


class WaypointP99Goal(unittest.TestCase):
    def goal(self, rounds, **kw):
        rows = phases(**kw)
        rows["paired"] = {"rounds": rounds}
        return report.waypoint_p99_goal(FakeBench(rows), kw.get("l4p99", 1.5) - kw.get("dp99", 0.5))

    def test_met_when_the_median_round_is_within_its_own_bound(self):
        # bounds: nginx + l4 - direct = 1.5 + 1.0 = 2.5 in each round; two rounds over, three in.
        rounds = [rnd(0.5, 1.5, 1.5, w) for w in (2.4, 3.5, 2.5, 4.0, 2.0)]
        line = self.goal(rounds, wp99=9.0)  # the phases' windows alone would say "not met"
        self.assertIn("| met |", line)
        self.assertIn("median 0.00 ms", line)

    def test_not_met_when_the_median_round_is_over(self):
        rounds = [rnd(0.5, 1.5, 1.5, w) for w in (2.6, 3.5, 2.4, 4.0, 2.0)]
        line = self.goal(rounds, wp99=1.0)  # the phases' windows alone would say "met"
        self.assertIn("**not met**", line)
        self.assertIn("median -0.10 ms", line)

    def test_each_round_uses_its_own_direct_nginx_and_l4(self):
        # Bounds 3.5, 1.5, 3.6: each round's own nginx, L4 and direct (the phases' nginx p99 is
        # 1.5, their L4 added 1.0: a bound of 2.5 everywhere).
        rounds = [rnd(0.5, 1.0, 3.0, 3.0), rnd(1.0, 1.5, 1.0, 3.0), rnd(0.5, 2.1, 2.0, 3.0)]
        line = self.goal(rounds)
        self.assertIn("3.00 vs 3.50, 3.00 vs 1.50, 3.00 vs 3.60 ms", line)
        self.assertIn("median 0.50 ms", line)
        self.assertIn("| met |", line)

    def test_the_median_of_the_margins_not_the_margin_of_the_medians(self):
        # (bound, waypoint) = (2, 1.9), (3, 3.1), (4, 3.9), (5, 5.2), (6, 6.1): margins 0.1,
        # -0.1, 0.1, -0.2, -0.1, median -0.1; median bound 4 - median waypoint 3.9 = +0.1.
        rounds = [rnd(0.5, n - 1.0, 1.5, w)
                  for n, w in ((2, 1.9), (3, 3.1), (4, 3.9), (5, 5.2), (6, 6.1))]
        line = self.goal(rounds)
        self.assertIn("median -0.10 ms", line)
        self.assertIn("**not met**", line)

    def test_a_short_run_says_how_many_rounds_ran(self):
        rows = phases()
        rows["paired"] = {"rounds": [rnd(0.5, 1.5, 1.5, 2.0)] * 3,
                          "failed_round": "round 4: hey: no latency numbers"}
        line = report.waypoint_p99_goal(FakeBench(rows), 1.0)
        self.assertIn("(3 of 5 rounds; round 4: hey: no latency numbers)", line)
        self.assertEqual(report.paired_problems(FakeBench(rows)), ["paired: 3 of 5 rounds"])

    def test_phases_decide_without_rounds(self):
        self.assertIn("| met |", self.goal([], wp99=2.5))
        self.assertIn("**not met**", self.goal([], wp99=2.6))

    def test_rounds_from_before_the_four_windows_are_not_used(self):
        old = [{"nginx_p99": 1.0, "waypoint_p99": 9.0, "nginx": 0.03, "waypoint": 0.03}]
        self.assertIn("| met |", self.goal(old, wp99=2.5))


class WaypointCpuGoal(unittest.TestCase):
    def test_median_of_the_rounds(self):
        rounds = [rnd(0, 0, 0, 0, 0.04, c) for c in (0.036, 0.06, 0.04, 0.08, 0.039)]
        line = report.waypoint_cpu_goal(FakeBench({"paired": {"rounds": rounds}}))
        self.assertIn("median 1.00x", line)
        self.assertIn("| met |", line)
        rounds[0]["waypoint"] = 0.041
        line = report.waypoint_cpu_goal(FakeBench({"paired": {"rounds": rounds}}))
        self.assertIn("**not met**", line)


class ReloadStallGoal(unittest.TestCase):
    def goal(self, rt, idle, counters=None):
        micro = {STALL.format("pipeline_rt"): rt * 1000,
                 STALL.format("pipeline_rt") + IDLE: idle * 1000,
                 STALL.format("pipeline"): 3000.0, STALL.format("in_loop"): 1e7}
        rows = {"micro": micro}
        if counters is not None:
            rows["reload_stall"] = {"pipeline_rt": counters}
        return report.reload_stall_goal(FakeBench(rows))

    def test_met(self):
        self.assertIn("| met |", self.goal(0.9, 0.5))
        self.assertIn("| met |", self.goal(1.0, 0.5))
        self.assertIn("**not met**", self.goal(1.001, 0.5))

    def test_the_floor_is_named_when_idle_is_as_late(self):
        for idle in (4.0, 1.6):
            line = self.goal(1.6, idle)
            self.assertIn("**not met** (the 10 idle seconds before it have a tick as late", line)

    def test_not_met_above_the_floor(self):
        line = self.goal(1.6, 0.8)
        self.assertIn("**not met** |", line)
        self.assertNotIn("floor", line)

    def test_late_ticks_are_shown(self):
        line = self.goal(1.6, 0.8, {"late_ticks": 3, "idle_late_ticks": 9,
                                    "reclaim_late_ticks": 1, "idle_reclaim_late_ticks": 2})
        self.assertIn("ticks over 1 ms late: 3 in the reload, 9 idle (of them attributed to "
                      "kernel memory reclaim: 1, 2)", line)
        # An older binary without the reclaim counters: shown as unknown, not as 0.
        line = self.goal(1.6, 0.8, {"late_ticks": 3, "idle_late_ticks": 9})
        self.assertIn("reclaim: —, —)", line)
        self.assertNotIn("ticks over", self.goal(1.6, 0.8))


if __name__ == "__main__":
    unittest.main()
