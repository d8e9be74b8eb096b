"""summarize.py's issue-17 goal verdicts from the fixture lines
(fixtures/issue17-*.json*: synthetic, not measurements), each goal met as
written and turned NOT MET or n/a by one change to the lines."""
import copy
import io
import json
import os
import subprocess
import sys
import unittest
from contextlib import redirect_stdout

from tool_path import FIXTURES, TOOLS

import summarize

GiB = 1 << 30
RESULTS = os.path.join(FIXTURES, "issue17-results.jsonl")
REPORT = os.path.join(FIXTURES, "issue17-report.json")

GOALS = ["cold", "warm", "neighbour", "registration", "bandwidth", "mismatches"]


class Goals(unittest.TestCase):
    def setUp(self):
        self.rows = summarize.load(RESULTS)
        self.tele = summarize.load_telemetry(REPORT)

    def verdicts(self, rows=None, tele=None):
        goals = summarize.issue17_goals(self.rows if rows is None else rows, self.tele if tele is None else tele)
        self.assertEqual(len(goals), len(GOALS))
        return dict(zip(GOALS, (ok for _, ok, _ in goals))), dict(zip(GOALS, (v for _, _, v in goals)))

    def changed(self, pred, change):
        rows = copy.deepcopy(self.rows)
        hit = 0
        for r in rows:
            if pred(r):
                change(r)
                hit += 1
        self.assertGreater(hit, 0, "the change touched no fixture line")
        return rows

    def test_fixture_meets_every_goal(self):
        ok, value = self.verdicts()
        self.assertEqual(ok, {g: True for g in GOALS}, value)
        self.assertTrue(value["cold"].startswith("2.27x"), value["cold"])  # 12.5 / 5.5
        self.assertTrue(value["warm"].startswith("3.62x"), value["warm"])  # 7.6 / 2.1
        self.assertTrue(value["neighbour"].startswith("22.2x"), value["neighbour"])  # 7650 / 345
        self.assertIn("vllm cold 6.67x", value["registration"])  # 6.0 / 0.9 (telemetry)
        self.assertIn("trt warm 4.17x", value["registration"])  # 5.0 / 1.2

    def test_cold_shim_too_slow_is_not_met(self):
        rows = self.changed(lambda r: r.get("test") == "pin" and r["phase"] == "cold" and r["run"] == "shim"
                            and r["bytes"] == 16 * GiB, lambda r: r.update(alloc_s=r["alloc_s"] * 2))
        ok, value = self.verdicts(rows)
        self.assertIs(ok["cold"], False, value["cold"])
        self.assertIs(ok["warm"], True)

    def test_fewer_than_three_warm_pairs_is_no_verdict(self):
        rows = [r for r in self.rows if not (r.get("test") == "pin" and r["phase"] == "warm" and r["round"] == 2)]
        ok, value = self.verdicts(rows)
        self.assertIsNone(ok["warm"], value["warm"])
        self.assertIn("fewer than 3", value["warm"])

    def test_pins_beside_the_decode_loop_are_not_warm_pairs(self):
        # gpu-check labels process A's pins of the neighbour section phase=neighbour.
        extra = [{"test": "pin", "run": "native", "round": r, "phase": "neighbour", "bytes": 16 * GiB,
                  "alloc_s": 1.0} for r in range(3)]
        ok, value = self.verdicts(self.rows + extra)
        self.assertIs(ok["warm"], True)
        self.assertTrue(value["warm"].startswith("3.62x"), value["warm"])

    def test_warm_ratio_below_three_is_not_met(self):
        rows = self.changed(lambda r: r.get("test") == "pin" and r["phase"] == "warm" and r["run"] == "native"
                            and r["bytes"] == 16 * GiB, lambda r: r.update(alloc_s=5.0))
        ok, _ = self.verdicts(rows)
        self.assertIs(ok["warm"], False)  # 5.0 / 2.1 = 2.38x

    def test_neighbour_stall_not_ten_times_shorter_is_not_met(self):
        rows = self.changed(lambda r: r.get("test") == "decode_neighbour" and r["run"] == "shim",
                            lambda r: r.update(longest_stall_ms=1000.0))
        ok, value = self.verdicts(rows)
        self.assertIs(ok["neighbour"], False, value["neighbour"])

    def test_test_double_neighbour_lines_never_count(self):
        rows = self.changed(lambda r: r.get("test") == "decode_neighbour", lambda r: r.update(model="fake-sleep"))
        ok, value = self.verdicts(rows)
        self.assertIsNone(ok["neighbour"])
        self.assertIn("test-double", value["neighbour"])

    def test_registration_without_telemetry_is_no_verdict(self):
        ok, value = self.verdicts(tele={})
        self.assertIsNone(ok["registration"], value["registration"])

    def test_registration_inside_driver_not_three_times_shorter_is_not_met(self):
        tele = copy.deepcopy(self.tele)
        for tag, apis in tele.items():
            if tag.startswith("trt."):
                apis["cuMemHostRegister"] = (0.4, 2.0)  # 5.0 / 2.0 = 2.5x
        ok, value = self.verdicts(tele=tele)
        self.assertIs(ok["registration"], False, value["registration"])

    def test_bandwidth_below_098_is_not_met(self):
        rows = self.changed(lambda r: r.get("test") == "copy" and r["memory"] == "register" and r["run"] == "shim"
                            and r["bytes"] == GiB, lambda r: r.update(d2h_gbps=r["d2h_gbps"] * 0.95))
        ok, value = self.verdicts(rows)
        self.assertIs(ok["bandwidth"], False)
        self.assertIn("register D2H 1 GiB", value["bandwidth"])

    def test_one_mismatch_is_not_met(self):
        rows = self.changed(lambda r: r.get("test") == "copy" and r["bytes"] == 64 << 10 and r["run"] == "shim"
                            and r["memory"] == "hostalloc" and r["round"] == 1, lambda r: r.update(mismatches=1))
        ok, value = self.verdicts(rows)
        self.assertIs(ok["mismatches"], False, value["mismatches"])

    def test_neighbour_window_no_step_overlapped_never_counts(self):
        rows = self.changed(lambda r: r.get("test") == "decode_neighbour" and r["run"] == "shim",
                            lambda r: r.update(pin_n=0))
        ok, _ = self.verdicts(rows)
        self.assertIsNone(ok["neighbour"])

    def test_failed_copy_run_gives_no_zero_verdict(self):
        rows = self.rows + [{"test": "copy", "run": "shim", "memory": "register", "error": "cudaHostRegister: x"}]
        ok, _ = self.verdicts(rows)
        self.assertIsNone(ok["mismatches"])

    def test_nothing_measured(self):
        ok, _ = self.verdicts(rows=[], tele={})
        self.assertEqual(ok, {g: None for g in GOALS})

    def test_cli_prints_the_goal_table(self):
        out = subprocess.run([sys.executable, os.path.join(TOOLS, "summarize.py"), RESULTS, REPORT],
                             capture_output=True, text=True, check=True).stdout
        goal_lines = [line for line in out.splitlines() if line.startswith("| ") and "| MET |" in line]
        self.assertEqual(len(goal_lines), 6, out)
        self.assertIn("| 16 GiB | cold | 12.500 [12.000-13.000] (3) | 5.500 [5.000-6.000] (3) | 2.27x |", out)
        self.assertIn("r0 12.000 / 5.000, r1 12.500 / 5.500, r2 13.000 / 6.000 |", out)

    def test_legacy_and_registration_only_runs_still_print(self):
        buf = io.StringIO()
        rows = [r for r in self.rows if r.get("test") in ("register", "neighbour")]
        with redirect_stdout(buf):
            summarize.registration_tables(rows, self.tele)
            summarize.issue17_tables(rows, self.tele)
        self.assertIn("| vllm | inside s | 6.000 | 0.900 |", buf.getvalue())
        self.assertIn("| n/a | not measured |", buf.getvalue())


if __name__ == "__main__":
    unittest.main()
