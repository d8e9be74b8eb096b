"""PyTorch pinned-memory measurements for tools/gpu-check.sh.

For each size: torch.empty(n, dtype=torch.uint8, pin_memory=True) (time),
a GPU-generated random pattern copied GPU -> pinned (D2H) and back (H2D),
compared on the GPU, then the tensor freed and the host cache emptied
(time). Prints one JSON object per size. Whether the shim is preloaded and
which PYTORCH_CUDA_ALLOC_CONF applies come from the environment; the run
label is argv[1].

    torch_pinned.py LABEL BYTES...
    torch_pinned.py register LABEL BYTES [round=N phase=cold|warm tag=T neighbour=PATH]

The second form (issue 12, registration scenarios of gpu-check.sh) times one
torch.empty(BYTES, pin_memory=True) while a neighbour process
(`PATH neighbour`, tools/gpu/register_bench.cu) loops cudaMemGetInfo and
small copies on the same GPU, then checks the round trip as above. It prints
the neighbour's JSON line and one {"test": "register", "scenario": "torch"}
line. Run it with PYTORCH_CUDA_ALLOC_CONF=pinned_use_cuda_host_register:True,...
for PyTorch's register mode (malloc, pages touched by its threads, one
cudaHostRegister). tag= names the process in the shim's telemetry.
"""
import json
import os
import sys
import time

import torch


def host_empty_cache():
    fn = getattr(torch._C, "_host_emptyCache", None)
    if fn is not None:
        fn()
        return True
    return False


def measure(n, label):
    dev = torch.device("cuda", 0)
    gen = torch.Generator(device=dev)
    gen.manual_seed(n & 0xFFFF)
    src = torch.randint(0, 256, (n,), dtype=torch.uint8, device=dev, generator=gen)
    torch.cuda.synchronize()

    t0 = time.perf_counter()
    host = torch.empty(n, dtype=torch.uint8, pin_memory=True)
    alloc_s = time.perf_counter() - t0

    torch.cuda.synchronize()
    t0 = time.perf_counter()
    host.copy_(src, non_blocking=True)
    torch.cuda.synchronize()
    d2h_s = time.perf_counter() - t0

    back = torch.empty_like(src)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    back.copy_(host, non_blocking=True)
    torch.cuda.synchronize()
    h2d_s = time.perf_counter() - t0

    ok = bool(torch.equal(src, back))
    del src, back
    torch.cuda.empty_cache()

    t0 = time.perf_counter()
    del host
    emptied = host_empty_cache()
    free_s = time.perf_counter() - t0
    return {
        "test": "torch",
        "run": label,
        "bytes": n,
        "alloc_s": round(alloc_s, 6),
        "free_s": round(free_s, 6) if emptied else None,
        "h2d_gbps": round(n / h2d_s / 1e9, 3),
        "d2h_gbps": round(n / d2h_s / 1e9, 3),
        "roundtrip_ok": ok,
        "conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF", ""),
    }


def register_main(argv):
    import subprocess

    label, n = argv[0], int(argv[1])
    keys = dict(a.split("=", 1) for a in argv[2:] if "=" in a)
    common = {"scenario": "torch", "run": label, "round": int(keys.get("round", 0)),
              "phase": keys.get("phase", ""), "tag": keys.get("tag", "")}
    try:
        ok_device = torch.cuda.is_available() and torch.cuda.device_count() > 0
    except Exception:  # noqa: BLE001: any failure to reach the driver
        ok_device = False
    if not ok_device:
        print(json.dumps({"test": "register", **common, "error": "no CUDA device (torch.cuda.is_available() is False)"}),
              flush=True)
        sys.exit(3)
    torch.cuda.init()
    dev = torch.device("cuda", 0)
    torch.empty(1, device=dev)  # context outside the timings
    gen = torch.Generator(device=dev)
    gen.manual_seed(n & 0xFFFF)
    src = torch.randint(0, 256, (n,), dtype=torch.uint8, device=dev, generator=gen)
    torch.cuda.synchronize()

    neighbour = None
    if keys.get("neighbour"):
        args = [keys["neighbour"], "neighbour", "scenario=torch"] + [f"{k}={v}" for k, v in keys.items()
                                                                      if k in ("round", "phase", "tag")]
        # Another program on the node: without the shim in both runs.
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        neighbour = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        ready = neighbour.stdout.readline().strip()
        if ready != "ready":
            if ready:
                print(ready, flush=True)
            print("torch_pinned: neighbour did not start", file=sys.stderr)
            neighbour.stdin.close()
            neighbour.wait()
            neighbour = None

    t0 = time.monotonic_ns()
    host = torch.empty(n, dtype=torch.uint8, pin_memory=True)
    t1 = time.monotonic_ns()
    if neighbour is not None:
        neighbour.stdin.write(f"{t0} {t1}\n")
        neighbour.stdin.flush()
        neighbour.stdin.close()
        for line in neighbour.stdout:
            print(line.rstrip("\n"), flush=True)
        neighbour.wait()

    torch.cuda.synchronize()
    a = time.perf_counter()
    host.copy_(src, non_blocking=True)
    torch.cuda.synchronize()
    d2h_s = time.perf_counter() - a
    back = torch.empty_like(src)
    a = time.perf_counter()
    back.copy_(host, non_blocking=True)
    torch.cuda.synchronize()
    h2d_s = time.perf_counter() - a
    ok = bool(torch.equal(src, back))
    del src, back
    torch.cuda.empty_cache()
    a = time.perf_counter()
    del host
    emptied = host_empty_cache()
    free_s = time.perf_counter() - a
    print(json.dumps({"test": "register", **common, "api": "cudaHostRegister", "bytes": n,
                      "register_s": round((t1 - t0) * 1e-9, 6), "unregister_s": round(free_s, 6) if emptied else None,
                      "h2d_gbps": round(n / h2d_s / 1e9, 3), "d2h_gbps": round(n / d2h_s / 1e9, 3),
                      "mismatches": 0 if ok else 1, "conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF", "")}),
          flush=True)
    sys.exit(0 if ok else 5)


def main():
    if sys.argv[1] == "register":
        register_main(sys.argv[2:])
        return
    label = sys.argv[1]
    sizes = [int(x) for x in sys.argv[2:]]
    torch.cuda.init()
    torch.empty(1, device="cuda")  # context outside the timings
    for n in sizes:
        print(json.dumps(measure(n, label)), flush=True)


if __name__ == "__main__":
    main()
