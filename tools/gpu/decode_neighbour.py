"""Neighbour stall: a decode loop (process B) while another process (A) pins.

    decode_neighbour.py [options] --pin CMD [--pin CMD ...]

Process B (this program) builds a small Llama-style transformer from a
`transformers` config with random weights (nothing is downloaded), then
decodes one token per step with a KV cache, calling torch.cuda.mem_get_info()
every step, and stamps every step with CLOCK_MONOTONIC (time.monotonic_ns).
For each --pin CMD, in the order given, it decodes for --base-s seconds, starts
CMD (process A, normally `pinned_bench pin BYTES round=N phase=P`, natively or
under LD_PRELOAD=libhugeshim.so), keeps decoding while A runs and --tail-s
seconds after it exits, and joins its steps with the window A printed
(pin_start_ns/pin_end_ns, CLOCK_MONOTONIC as well). A's JSON line is printed
as it came, followed by one line

    {"test": "decode_neighbour", "run": <A's run>, "round": ..., "bytes": ...,
     "base_*": the loop before A started, "pin_*": steps overlapping A's pin,
     "longest_stall_ms": the longest gap between two step completions that
     overlaps A's pin, "free_*" the same for A's free, ...}

Step durations are end - start of one step (mem_get_info + forward + argmax
.item(), which waits for the GPU). A stall is the gap between two completed
steps, so time the loop spends blocked anywhere counts. Percentiles are
nearest-rank. --steps-out writes every step as a JSON line (run, round, start,
end, mem_get_info ns) for plots and audits.

--model llama (default) needs torch and transformers; --device cpu runs it on
the CPU (a dry run of the loop; too slow to mean anything). --model
fake-sleep is a TEST DOUBLE: each step sleeps --fake-step-ms instead of
running a model, so the loop, the process handling and the statistics can be
checked without torch; its lines say "model": "fake-sleep" and summarize.py
never counts them towards a goal. Standard library only, except for the model.
"""
import argparse
import json
import shlex
import subprocess
import sys
import time

NS = 1_000_000_000


# ------------------------------------------------------------------ statistics
def percentile(values, q):
    """Nearest rank on the sorted values (as the C++ benches do); None if empty."""
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))]


def overlapping(steps, start, end):
    """Steps (t0, t1, info_ns) whose [t0, t1] overlaps [start, end]."""
    return [s for s in steps if s[1] > start and s[0] < end]


def longest_gap(steps, start, end):
    """The longest interval between consecutive step completions (ns) that
    overlaps [start, end]; the first step's own start stands in for the
    completion before it. 0 without steps."""
    worst = 0
    prev = None
    for t0, t1, _ in steps:
        lo = t0 if prev is None else prev
        if t1 > start and lo < end:
            worst = max(worst, t1 - lo)
        prev = t1
    return worst


def window_stats(steps, start, end, prefix):
    """{prefix_n, prefix_p50_ms, prefix_p99_ms, prefix_max_ms} of the steps
    overlapping [start, end], plus the longest gap and mem_get_info's max."""
    mine = overlapping(steps, start, end)
    dur = [(t1 - t0) / 1e6 for t0, t1, _ in mine]
    info = [i / 1e6 for _, _, i in mine]
    return {
        f"{prefix}_n": len(mine),
        f"{prefix}_p50_ms": rnd(percentile(dur, 0.50)),
        f"{prefix}_p99_ms": rnd(percentile(dur, 0.99)),
        f"{prefix}_max_ms": rnd(max(dur) if dur else None),
        f"{prefix}_longest_stall_ms": rnd(longest_gap(steps, start, end) / 1e6),
        f"{prefix}_meminfo_max_ms": rnd(max(info) if info else None),
    }


def rnd(v):
    return None if v is None else round(v, 3)


def pin_record(lines):
    """A's JSON line with its pin window, or None."""
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if "pin_start_ns" in r and "pin_end_ns" in r:
            return r
    return None


def summarize_round(steps, a_start, a_end, pin, model):
    """The decode_neighbour line of one round: A's run fields, the loop before
    A started (base), during A's pin and free, and over A's whole life."""
    base = [s for s in steps if s[1] < a_start]
    out = {"test": "decode_neighbour", "model": model}
    for key in ("run", "round", "phase", "bytes", "alloc_s", "free_s"):
        if pin and key in pin:
            out[key] = pin[key]
    bd = [(t1 - t0) / 1e6 for t0, t1, _ in base]
    out.update({"base_n": len(bd), "base_p50_ms": rnd(percentile(bd, 0.50)),
                "base_p99_ms": rnd(percentile(bd, 0.99)), "base_max_ms": rnd(max(bd) if bd else None)})
    if pin:
        out.update(window_stats(steps, pin["pin_start_ns"], pin["pin_end_ns"], "pin"))
        out["longest_stall_ms"] = out["pin_longest_stall_ms"]
        if "free_start_ns" in pin:
            out.update(window_stats(steps, pin["free_start_ns"], pin["free_end_ns"], "free"))
    out.update(window_stats(steps, a_start, a_end, "life"))
    out["steps_total"] = len(steps)
    return out


# ------------------------------------------------------------------ the loop
def decode_round(step, cmd, base_s, tail_s, timeout_s, clock=time.monotonic_ns):
    """Runs step() for base_s, then while CMD runs, then tail_s more.
    Returns (steps, a_start_ns, a_end_ns, a_stdout, a_stderr, a_rc)."""
    steps = []
    end = clock() + int(base_s * NS)
    while clock() < end:
        steps.append(step())
    a_start = clock()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = a_start + int(timeout_s * NS)
    # A prints a line or two: its pipes cannot fill while it runs.
    while proc.poll() is None:
        steps.append(step())
        if clock() > deadline:
            proc.kill()
            break
    a_end = clock()
    out, err = proc.communicate()
    end = clock() + int(tail_s * NS)
    while clock() < end:
        steps.append(step())
    return steps, a_start, a_end, out, err, proc.returncode


def fake_sleep_step(step_ms, lock_path=None):
    """TEST DOUBLE for the model step: sleeps; no GPU, no torch. With
    lock_path each step first takes a shared flock on it, as the driver call
    takes a node-wide lock: a fake process A holding it exclusively stalls it."""
    import fcntl

    lock = open(lock_path, "a+") if lock_path else None

    def step():
        t0 = time.monotonic_ns()
        if lock:
            fcntl.flock(lock, fcntl.LOCK_SH)
            fcntl.flock(lock, fcntl.LOCK_UN)
        t1 = time.monotonic_ns()
        time.sleep(step_ms / 1000)
        return (t0, time.monotonic_ns(), t1 - t0)

    return step


def build_model(args):
    """The decoder: transformers' Llama with random weights from a config."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=args.vocab, hidden_size=args.hidden,
                      intermediate_size=args.hidden * 11 // 4 // 256 * 256,
                      num_hidden_layers=args.layers, num_attention_heads=args.heads,
                      num_key_value_heads=args.heads, max_position_embeddings=max(4096, args.max_seq + 1))
    torch.manual_seed(0)
    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    with torch.device(args.device):
        model = LlamaForCausalLM(cfg)
    return model.to(dtype).eval()


def llama_step(model, args):
    """One token per call, KV cache kept, restarted every --max-seq tokens so
    a step's cost stays flat; mem_get_info first, as a serving loop polls it."""
    import torch

    dev = torch.device(args.device)
    state = {"cache": None, "tok": torch.ones((1, 1), dtype=torch.long, device=dev), "pos": 0}
    meminfo = torch.cuda.mem_get_info if args.device == "cuda" else (lambda: (0, 0))

    @torch.inference_mode()
    def step():
        t0 = time.monotonic_ns()
        meminfo()
        t1 = time.monotonic_ns()
        out = model(input_ids=state["tok"], past_key_values=state["cache"], use_cache=True)
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        nxt.item()  # waits for the GPU
        state["pos"] += 1
        if state["pos"] >= args.max_seq:
            state["cache"], state["pos"] = None, 0
            state["tok"] = torch.ones((1, 1), dtype=torch.long, device=dev)
        else:
            state["cache"], state["tok"] = out.past_key_values, nxt
        return (t0, time.monotonic_ns(), t1 - t0)

    return step


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pin", action="append", required=True, help="process A's command line (shell words)")
    ap.add_argument("--model", choices=("llama", "fake-sleep"), default="llama")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=2048)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--max-seq", type=int, default=512)
    ap.add_argument("--warmup-s", type=float, default=2.0, help="decoding before the first round (not reported)")
    ap.add_argument("--base-s", type=float, default=1.0)
    ap.add_argument("--tail-s", type=float, default=0.5)
    ap.add_argument("--timeout-s", type=float, default=120.0, help="A is killed after this")
    ap.add_argument("--fake-step-ms", type=float, default=2.0)
    ap.add_argument("--fake-lock", help="fake-sleep: a file each step locks shared (see fake_sleep_step)")
    ap.add_argument("--steps-out", help="every step as a JSON line here")
    args = ap.parse_args(argv)

    t_build = time.monotonic()
    if args.model == "fake-sleep":
        step = fake_sleep_step(args.fake_step_ms, args.fake_lock)
        info = {"model": "fake-sleep"}
    else:
        try:
            model = build_model(args)
        except Exception as e:  # noqa: BLE001: one clear line, whatever failed
            print(json.dumps({"test": "decode_neighbour", "error": f"model: {type(e).__name__}: {e}"}), flush=True)
            return 3
        step = llama_step(model, args)
        info = {"model": "llama", "device": args.device, "layers": args.layers, "hidden": args.hidden,
                "vocab": args.vocab, "params": sum(p.numel() for p in model.parameters())}
    info["build_s"] = round(time.monotonic() - t_build, 3)
    end = time.monotonic_ns() + int(args.warmup_s * NS)
    while time.monotonic_ns() < end:
        step()
    steps_file = open(args.steps_out, "a") if args.steps_out else None
    worst = 0
    for cmd in args.pin:
        steps, a0, a1, out, err, rc = decode_round(step, shlex.split(cmd), args.base_s, args.tail_s, args.timeout_s)
        lines = out.splitlines()
        for line in lines:
            if line.startswith("{"):
                print(line, flush=True)
        pin = pin_record(lines)
        r = summarize_round(steps, a0, a1, pin, info["model"])
        r.update({k: v for k, v in info.items() if k != "model"})
        if rc != 0 or pin is None:
            r["error"] = f"process A exit {rc}: {(err or '').strip()[-300:] or 'no pin line'}"
            worst = max(worst, 2)
        print(json.dumps(r), flush=True)
        if steps_file:
            for t0, t1, mi in steps:
                steps_file.write(json.dumps({"run": r.get("run"), "round": r.get("round"), "bytes": r.get("bytes"),
                                             "start_ns": t0, "end_ns": t1, "meminfo_ns": mi}) + "\n")
    if steps_file:
        steps_file.close()
    return worst


if __name__ == "__main__":
    sys.exit(main())
