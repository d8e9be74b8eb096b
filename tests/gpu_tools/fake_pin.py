"""TEST DOUBLE of process A (`pinned_bench pin`): holds an exclusive flock on
LOCK for HOLD_MS milliseconds (as a pin holds the driver's lock), then prints
the pin line pinned_bench prints, with that window in CLOCK_MONOTONIC ns.

    fake_pin.py LOCK HOLD_MS RUN ROUND BYTES
"""
import fcntl
import json
import sys
import time

lock_path, hold_ms, run, rnd, size = sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
time.sleep(0.05)
with open(lock_path, "a+") as f:
    t0 = time.monotonic_ns()
    fcntl.flock(f, fcntl.LOCK_EX)
    time.sleep(hold_ms / 1000)
    fcntl.flock(f, fcntl.LOCK_UN)
    t1 = time.monotonic_ns()
f0 = time.monotonic_ns()
time.sleep(0.01)
f1 = time.monotonic_ns()
print(json.dumps({"test": "pin", "run": run, "round": rnd, "phase": "warm", "bytes": size,
                  "alloc_s": (t1 - t0) / 1e9, "free_s": (f1 - f0) / 1e9, "pin_start_ns": t0, "pin_end_ns": t1,
                  "free_start_ns": f0, "free_end_ns": f1}))
