"""summarize.py's DMA section (issue 16) from the fixture lines and reports
in fixtures/dma/ (synthetic, not measurements): the CUPTI table per
direction and size class, the program's own timings, and the verdict lines,
each turned by one change to the fixtures."""
import copy
import io
import os
import subprocess
import sys
import unittest
from contextlib import redirect_stdout

from tool_path import FIXTURES, TOOLS

import summarize

DMA = os.path.join(FIXTURES, "dma")


class Dma(unittest.TestCase):
    def setUp(self):
        self.rows = summarize.load(os.path.join(DMA, "dma-results.jsonl"))
        self.reports = summarize.load_dma_reports(DMA)

    def test_reports_are_found_beside_the_results(self):
        self.assertEqual(sorted(self.reports), ["native-hostalloc", "native-pageable", "shim-hostalloc"])

    def test_verdicts_per_size_class_and_per_size(self):
        lines = summarize.dma_verdicts(self.rows, self.reports)
        self.assertIn("CUPTI HtoD >=256 MiB: shim pinned (pinned/2M) 53.500 GB/s p50 = 1.01x native pinned (53.000), "
                      "2.67x pageable (20.000): as fast as native pinned", lines)
        # 45 / 54 = 0.83 < 0.95
        self.assertIn("CUPTI DtoH >=256 MiB: shim pinned (pinned/2M) 45.000 GB/s p50 = 0.83x native pinned (54.000), "
                      "3.00x pageable (15.000): SLOWER than native pinned", lines)
        self.assertIn("program 1 GiB: shim pinned H2D 53.400 GB/s = 1.01x native pinned, 2.67x pageable; "
                      "D2H 45.100 GB/s = 0.84x native pinned, 3.01x pageable", lines)
        self.assertTrue(any(line.startswith("program 64 KiB:") for line in lines))
        self.assertFalse(any("no copy records" in line or "not on" in line for line in lines))

    def test_a_run_without_copy_records_says_so(self):
        reports = copy.deepcopy(self.reports)
        reports["shim-hostalloc"]["processes"][0]["copies"] = None
        lines = summarize.dma_verdicts(self.rows, reports)
        self.assertIn("shim-hostalloc: the recording holds no copy records (HUGESHIM_CUPTI=1 recorded nothing)", lines)
        self.assertFalse(any(line.startswith("CUPTI") for line in lines))  # nothing to compare

    def test_copies_on_the_wrong_memory_are_reported(self):
        reports = copy.deepcopy(self.reports)
        # The shim run's copies came from memory the shim did not substitute.
        for c in reports["shim-hostalloc"]["processes"][0]["copies"]["classes"]:
            c["backing"] = "pinned/native"
        lines = summarize.dma_verdicts(self.rows, reports)
        self.assertTrue(any(line.startswith("shim-hostalloc: ") and "not on pinned/* memory" in line for line in lines))
        self.assertFalse(any(line.startswith("CUPTI") for line in lines))

    def test_without_native_numbers_the_verdict_is_na(self):
        reports = {k: v for k, v in self.reports.items() if k != "native-hostalloc"}
        lines = summarize.dma_verdicts([r for r in self.rows if r.get("run") != "native" or r.get("memory") != "hostalloc"],
                                       reports)
        self.assertIn("CUPTI HtoD <1 MiB: shim pinned (pinned/2M) 18.200 GB/s p50 = n/a native pinned (n/a), "
                      "3.03x pageable (6.000): n/a", lines)

    def test_dma_lines_stay_out_of_the_copies_table(self):
        self.assertEqual(summarize.copy_medians(self.rows), {})

    def test_the_whole_table_from_the_command_line(self):
        out = subprocess.run([sys.executable, os.path.join(TOOLS, "summarize.py"), os.path.join(DMA, "dma-results.jsonl")],
                             capture_output=True, text=True, check=True).stdout
        self.assertIn("| HtoD | >=256 MiB | 53.000 / 52.000 (6) | 53.500 / 52.500 (6) | 20.000 / 18.000 (6) | 1.01x | 2.67x |",
                      out)
        self.assertIn("| 1 GiB | 53.000 / 54.000 | 53.400 / 45.100 | 20.000 / 15.000 |", out)
        self.assertIn("dma register (`hugeshim run --kernel`, dma-kernel.txt): 16 GiB cudaHostRegister 2.500 s", out)
        self.assertIn("DMA verdicts:\n- CUPTI HtoD <1 MiB:", out)

    def test_no_dma_section_without_dma_lines(self):
        buf = io.StringIO()
        with redirect_stdout(buf):
            summarize.dma_tables([], {})
        self.assertIn("- no DMA measurements", buf.getvalue())


if __name__ == "__main__":
    unittest.main()
