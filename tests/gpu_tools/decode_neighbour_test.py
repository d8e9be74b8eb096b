"""decode_neighbour.py without a GPU: its statistics on made-up steps, and
the whole loop with its test doubles (the fake-sleep model taking a shared
flock each step, fake_pin.py holding it exclusively as a pin holds the
driver's lock)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest
from types import SimpleNamespace

from tool_path import TOOLS

import decode_neighbour as dn

MS = 1_000_000


class Statistics(unittest.TestCase):
    def test_percentile_nearest_rank(self):
        self.assertIsNone(dn.percentile([], 0.5))
        self.assertEqual(dn.percentile([3, 1, 2], 0.5), 2)
        self.assertEqual(dn.percentile(list(range(1, 101)), 0.99), 99)
        self.assertEqual(dn.percentile([5], 0.99), 5)

    def test_window_joins_on_overlap(self):
        # 5 ms steps back to back, one of 800 ms starting at 20 ms.
        steps = [(i * 5 * MS, (i + 1) * 5 * MS, 10) for i in range(4)]
        steps.append((20 * MS, 820 * MS, 700 * MS))
        steps += [(820 * MS + i * 5 * MS, 825 * MS + i * 5 * MS, 10) for i in range(4)]
        s = dn.window_stats(steps, 100 * MS, 300 * MS, "pin")
        self.assertEqual(s["pin_n"], 1)  # only the long step overlaps
        self.assertEqual(s["pin_max_ms"], 800.0)
        self.assertEqual(s["pin_longest_stall_ms"], 800.0)
        self.assertEqual(s["pin_meminfo_max_ms"], 700.0)
        after = dn.window_stats(steps, 830 * MS, 840 * MS, "x")
        self.assertEqual(after["x_n"], 2)  # a step ending at 830 ms does not overlap
        self.assertEqual(after["x_longest_stall_ms"], 5.0)

    def test_longest_gap_counts_time_between_steps(self):
        # Steps of 1 ms but 300 ms between two of them: the loop was blocked
        # outside its timed step; the stall must still show.
        steps = [(0, 1 * MS, 0), (301 * MS, 302 * MS, 0), (302 * MS, 303 * MS, 0)]
        self.assertEqual(dn.longest_gap(steps, 100 * MS, 200 * MS), 301 * MS)
        self.assertEqual(dn.longest_gap([], 0, 1), 0)

    def test_round_without_pin_line(self):
        steps = [(i * MS, (i + 1) * MS, 0) for i in range(10)]
        r = dn.summarize_round(steps, 5 * MS, 8 * MS, None, "fake-sleep")
        self.assertNotIn("longest_stall_ms", r)
        self.assertEqual(r["base_n"], 4)
        self.assertEqual(r["life_n"], 3)  # steps 5-6, 6-7, 7-8 ms

    def test_pin_record_picks_the_window_line(self):
        lines = ["noise", '{"error": "x"}', '{"test": "pin", "pin_start_ns": 1, "pin_end_ns": 2}']
        self.assertEqual(dn.pin_record(lines)["pin_end_ns"], 2)
        self.assertIsNone(dn.pin_record(["{not json"]))


class LoopWithDoubles(unittest.TestCase):
    def run_tool(self, *pins):
        with tempfile.TemporaryDirectory() as d:
            lock = os.path.join(d, "driver.lock")
            fake = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_pin.py")
            args = [sys.executable, os.path.join(TOOLS, "decode_neighbour.py"), "--model", "fake-sleep",
                    "--fake-lock", lock, "--fake-step-ms", "2", "--warmup-s", "0.1", "--base-s", "0.3",
                    "--tail-s", "0.1", "--steps-out", os.path.join(d, "steps.jsonl")]
            for hold_ms, run in pins:
                args += ["--pin", f"{sys.executable} {fake} {lock} {hold_ms} {run} 0 {16 << 30}"]
            p = subprocess.run(args, capture_output=True, text=True, timeout=60)
            with open(os.path.join(d, "steps.jsonl")) as f:
                steps = [json.loads(line) for line in f]
        lines = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
        return p.returncode, [r for r in lines if r["test"] == "decode_neighbour"], steps, p.stderr

    def test_a_long_lock_stalls_the_loop_and_a_short_one_barely(self):
        rc, rounds, steps, err = self.run_tool((600, "native"), (10, "shim"))
        self.assertEqual(rc, 0, err)
        self.assertEqual([r["run"] for r in rounds], ["native", "shim"])
        native, shim = rounds
        for r in rounds:
            self.assertEqual(r["model"], "fake-sleep")
            self.assertEqual(r["bytes"], 16 << 30)
            self.assertGreater(r["base_n"], 20)
            self.assertGreaterEqual(r["pin_n"], 1)
        # The loop waited for the whole 600 ms hold (less the part before its step began).
        self.assertGreater(native["longest_stall_ms"], 500)
        self.assertLess(shim["longest_stall_ms"], 300)  # 10 ms hold + a loaded machine's noise
        self.assertGreater(native["longest_stall_ms"], 2 * shim["longest_stall_ms"])
        self.assertEqual(len(steps), native["steps_total"] + shim["steps_total"])
        self.assertEqual({s["run"] for s in steps}, {"native", "shim"})

    def test_a_failing_process_a_is_an_error_line(self):
        with tempfile.TemporaryDirectory() as d:
            p = subprocess.run([sys.executable, os.path.join(TOOLS, "decode_neighbour.py"), "--model", "fake-sleep",
                                "--warmup-s", "0", "--base-s", "0.05", "--tail-s", "0",
                                "--pin", f"{sys.executable} -c 'import sys; sys.exit(7)'"],
                               capture_output=True, text=True, timeout=60, cwd=d)
        self.assertEqual(p.returncode, 2)
        r = json.loads(p.stdout.splitlines()[-1])
        self.assertIn("process A exit 7", r["error"])


try:
    import torch
except ImportError:
    torch = None


@unittest.skipUnless(torch, "needs torch (python3-torch); the GPU machine has it")
class LlamaStepOnCpu(unittest.TestCase):
    """llama_step's token loop on the CPU, with a TEST DOUBLE in place of
    transformers' model (its call interface: input_ids, past_key_values,
    use_cache -> .logits, .past_key_values); transformers is not installed here."""

    def model(self, vocab):
        calls = []

        class FakeCausalLM(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = torch.nn.Embedding(vocab, 8)
                self.head = torch.nn.Linear(8, vocab)

            def forward(self, input_ids, past_key_values=None, use_cache=True):
                calls.append((tuple(input_ids.shape), int(input_ids[0, 0]), past_key_values, use_cache))
                cache = (past_key_values or 0) + 1  # stands for the KV cache: tokens seen
                return SimpleNamespace(logits=self.head(self.emb(input_ids)), past_key_values=cache)

        return FakeCausalLM().eval(), calls

    def test_one_token_per_step_cache_kept_and_restarted(self):
        model, calls = self.model(vocab=50)
        step = dn.llama_step(model, SimpleNamespace(device="cpu", max_seq=3))
        results = [step() for _ in range(7)]
        for t0, t1, info in results:
            self.assertLessEqual(t0, t1)
            self.assertGreaterEqual(info, 0)
        self.assertTrue(all(c[0] == (1, 1) and c[3] for c in calls))
        # The cache grows for max_seq tokens, then the loop starts again from token 1.
        self.assertEqual([c[2] for c in calls], [None, 1, 2, None, 1, 2, None])
        self.assertEqual([c[1] for c in calls][0::3], [1, 1, 1])
        self.assertTrue(all(0 <= c[1] < 50 for c in calls))


if __name__ == "__main__":
    unittest.main()
