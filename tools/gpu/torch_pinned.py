"""PyTorch pinned-memory measurements for tools/gpu-check.sh.

For each size: torch.empty(n, dtype=torch.uint8, pin_memory=True) (time),
a GPU-generated random pattern copied GPU -> pinned (D2H) and back (H2D),
compared on the GPU, then the tensor freed and the host cache emptied
(time). Prints one JSON object per size. Whether the shim is preloaded and
which PYTORCH_CUDA_ALLOC_CONF applies come from the environment; the run
label is argv[1].
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


def main():
    label = sys.argv[1]
    sizes = [int(x) for x in sys.argv[2:]]
    torch.cuda.init()
    torch.empty(1, device="cuda")  # context outside the timings
    for n in sizes:
        print(json.dumps(measure(n, label)), flush=True)


if __name__ == "__main__":
    main()
