"""Benchmark: forward + backward time and peak memory of multi-head self-attention.

Three implementations, same sizes, side by side in one run:

    course-manual   helpers.attention.MultiHeadAttention(impl="manual"): softmax(QKᵀ/√d)V written out
    course-fused    helpers.attention.MultiHeadAttention(impl="fused"): torch's scaled_dot_product_attention
    torch-mha       torch.nn.MultiheadAttention(batch_first=True), need_weights=False

Prints a table and writes bench/results/attention.json: per implementation and sequence length,
``ms`` (forward+backward time, the fastest of several interleaved repeats) and ``peak_mb`` (peak memory torch allocated during it) at the
largest batch size, and the same for every batch size under ``by_batch``.

    python bench/attention.py            # the full grid
    python bench/attention.py --quick    # a small grid, well under 60 s on 2 CPU cores
    python bench/attention.py --threads 1   # steadier timings on a machine busy with other work
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_common.py
from _common import write_results  # noqa: E402

from helpers.attention import MultiHeadAttention, peak_memory_mb, time_ms  # noqa: E402
from helpers.device import describe, get_device  # noqa: E402

IMPLS = ("course-manual", "course-fused", "torch-mha")


def make(impl: str, n_embd: int, n_head: int, device):
    """A module and a step() running forward and backward on a fixed input."""
    torch.manual_seed(0)
    if impl == "torch-mha":
        mod = torch.nn.MultiheadAttention(n_embd, n_head, batch_first=True)
        fwd = lambda x: mod(x, x, x, need_weights=False)[0]  # noqa: E731
    else:
        mod = MultiHeadAttention(n_embd, n_head, impl=impl.split("-")[1])
        fwd = mod
    return mod.to(device).train(), fwd


def steps(batch, seq, n_embd, n_head, device):
    """For each implementation, a step() running forward and backward on the same input."""
    out = {}
    for impl in IMPLS:
        mod, fwd = make(impl, n_embd, n_head, device)
        x = torch.randn(batch, seq, n_embd, device=device, requires_grad=True)

        def step(mod=mod, fwd=fwd, x=x):
            fwd(x).sum().backward()
            mod.zero_grad(set_to_none=True)
            x.grad = None

        out[impl] = step
    return out


def measure(batch, seq, n_embd, n_head, device, repeats):
    """{impl: (ms, peak_mb)}. Timings are interleaved (A B C A B C ...) so that load from other
    processes falls on every implementation alike; each figure is the fastest of ``repeats`` (on a
    shared machine the minimum is the steadiest estimate of what the code itself costs)."""
    fns = steps(batch, seq, n_embd, n_head, device)
    first = max(time_ms(fn, device, repeats=1, warmup=1) for fn in fns.values())
    repeats = min(50, max(repeats, int(300 / max(first, 1e-3))))  # small sizes: more repeats, ~0.3 s each
    times = {impl: [] for impl in fns}
    for _ in range(repeats):
        for impl, fn in fns.items():
            times[impl].append(time_ms(fn, device, repeats=1, warmup=0))
    return {impl: (min(t), peak_memory_mb(fns[impl], device)) for impl, t in times.items()}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a small grid (under 60 s on 2 CPU cores)")
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--device", default=None, help="cpu, cuda or mps (default: the course's choice)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: torch's choice); 1 steadies timings on a busy machine")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "attention.json"))
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = get_device(args.device)
    if args.quick:
        seqs, batches, repeats = [64, 256, 512], [1, 8], 7
    else:
        seqs, batches, repeats = [64, 128, 256, 512, 1024, 2048], [1, 8], 7
    start = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None  # a busy machine inflates times
    results = {impl: {} for impl in IMPLS}
    print(f"multi-head self-attention, n_embd={args.n_embd}, n_head={args.n_head}, forward+backward, "
          f"float32, on {describe(device)['name']} ({device}), {torch.get_num_threads()} threads")
    print(f"{'batch':>5} {'tokens':>6} | " + " | ".join(f"{i:>22}" for i in IMPLS))
    print(f"{'':>5} {'':>6} | " + " | ".join(f"{'ms':>10} {'peak MB':>11}" for _ in IMPLS))
    for batch in batches:
        for seq in seqs:
            row = []
            measured = measure(batch, seq, args.n_embd, args.n_head, device, repeats)
            for impl, (ms, peak) in measured.items():
                entry = results[impl].setdefault(str(seq), {"by_batch": {}})
                entry["by_batch"][str(batch)] = {"ms": round(ms, 3), "peak_mb": round(peak, 2)}
                entry.update(ms=round(ms, 3), peak_mb=round(peak, 2), batch=batch)  # largest batch wins
                row.append(f"{ms:>10.2f} {peak:>11.1f}")
            print(f"{batch:>5} {seq:>6} | " + " | ".join(row), flush=True)
    out = {
        "what": "multi-head self-attention, forward + backward, float32; ms = fastest of the repeats, "
                "peak_mb = peak memory allocated by torch during one step; top-level figures at "
                "the largest batch size, every batch under by_batch",
        "n_embd": args.n_embd, "n_head": args.n_head, "seq_lens": seqs, "batch_sizes": batches,
        "quick": args.quick, "device": describe(device), "torch": torch.__version__,
        "python": platform.python_version(), "machine": platform.machine(),
        "seconds": round(time.perf_counter() - start, 1), "load_average_at_start": load,
        "cpu_count": os.cpu_count(),
        "results": results,
    }
    write_results(args.out, out)
    fused, mha = results["course-fused"], results["torch-mha"]
    ratios = [fused[s]["by_batch"][b]["ms"] / mha[s]["by_batch"][b]["ms"]
              for s in fused for b in fused[s]["by_batch"]]
    print(f"course-fused / torch-mha time: median {sorted(ratios)[len(ratios) // 2]:.2f}, "
          f"worst {max(ratios):.2f} (below 1 = the course's is faster)")
    print(f"took {out['seconds']} s")
    return out


if __name__ == "__main__":
    main()
