"""Benchmark: the course's training loop on 1, 2, ... processes (DDP), the same global batch.

The mini-GPT at nanoGPT's CPU configuration (4 layers, 4 heads, 128 dimensions, block 64, batch 12,
the course's Shakespeare characters; see bench/pretraining.py) trains for a fixed number of steps,
once per process count, each time launched by ``torchrun --standalone --nproc_per_node P`` running
this file with ``--worker``. Every run sees the same global batches (each process takes 1/P of each),
so the loss curves must agree; the benchmark reports the largest difference. On the CPU the cores
are shared out (threads per process = cores / P, or ``--threads``); on a CUDA machine it runs 1..N
GPUs, one process per GPU (nccl).

Prints tokens per second, the speed-up over one process, and the time one all-reduce of the
gradients takes (measured apart, after training, on the same process group: ``dist.all_reduce`` of a
tensor the size of the model), times the steps. Writes bench/results/scaling.json with
``processes``, ``tokens_per_s`` (one per process count), ``speed_up``, ``allreduce_ms``,
``allreduce_share`` (of a step's time) and ``loss_max_abs_diff`` (largest difference between a loss
curve and the one-process curve).

    python bench/scaling.py                 # 300 steps on 1 and 2 processes
    python bench/scaling.py --threads 1     # 1 thread per process: fairer on a CPU busy with other work
    python bench/scaling.py --quick --out /tmp/scaling.json   # under a minute
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_common.py
from _common import write_results  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "scaling.json"


def worker(args) -> None:
    """One process of a run (started by torchrun): train, time an all-reduce, rank 0 writes."""
    import torch.distributed as tdist

    from helpers import data
    from helpers import distributed as dist
    from helpers.pretraining import CharVocab, causal_lm_batch, split_tokens
    from helpers.training import TrainConfig, train
    from helpers.transformer import GPT, GPTConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    device = dist.local_device()
    text = data.shakespeare_text()
    vocab = CharVocab(text)
    train_ids, val_ids = split_tokens(torch.tensor(vocab.encode(text), dtype=torch.long), 0.1)
    torch.manual_seed(1337)
    model = GPT(GPTConfig(vocab_size=len(vocab), block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0))
    model.to(device)
    cfg = TrainConfig(max_iters=args.steps, batch_size=args.batch, learning_rate=1e-3, min_lr=1e-4,
                      warmup_iters=min(100, args.steps // 10), eval_interval=0, eval_iters=2, seed=1337)

    def get_batch(split, g):  # the global batch; the loop gives this process its share
        return causal_lm_batch(train_ids if split == "train" else val_ids, 64, args.batch, g)

    hist = train(model, get_batch, cfg, device=device, progress=dist.is_main() and sys.stderr.isatty())
    n_params = sum(p.numel() for p in model.parameters())
    allreduce_ms = 0.0
    if dist.active():  # one all-reduce of every gradient, as DDP does each step (in buckets, overlapped)
        flat = torch.randn(n_params, device=device)
        for _ in range(3):
            tdist.all_reduce(flat)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(20):
            tdist.all_reduce(flat)
        if device.type == "cuda":
            torch.cuda.synchronize()
        allreduce_ms = (time.perf_counter() - t) / 20 * 1000
    if dist.is_main():
        Path(args.worker).write_text(json.dumps({
            "tokens_per_s": hist["tokens"] / hist["seconds"], "seconds": hist["seconds"], "loss": hist["loss"],
            "allreduce_ms": allreduce_ms, "parameters": n_params, "threads": torch.get_num_threads(),
            "device": str(device)}))


def launch(processes: int, args, out: Path) -> dict:
    threads = args.threads or max(1, (os.cpu_count() or 1) // processes)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
           __file__, "--worker", str(out), "--steps", str(args.steps), "--batch", str(args.batch),
           "--threads", str(threads)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads)}
    run = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if run.returncode:
        raise RuntimeError(f"the {processes}-process run failed:\n{run.stderr[-3000:]}")
    return json.loads(out.read_text())


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=300, help="optimizer steps per run")
    ap.add_argument("--batch", type=int, default=None, help="global batch (default 12 on the CPU, 48 on GPUs)")
    ap.add_argument("--processes", type=int, nargs="+", default=None,
                    help="process counts to run (default: 1 2 on the CPU, 1..N on N GPUs)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads per process (default: cores / P)")
    ap.add_argument("--quick", action="store_true",
                    help="10 steps, 1 thread per process: a check that it runs, not a measurement")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    gpus = torch.cuda.device_count()
    args.batch = args.batch or (48 if gpus else 12)
    if args.worker:
        return worker(args)
    if args.quick:
        args.steps, args.threads = min(args.steps, 10), args.threads or 1
    counts = args.processes or (list(range(1, gpus + 1)) if gpus else [1, 2])
    skipped = [p for p in counts if args.batch % p]
    if skipped:
        print(f"skipping {skipped} processes: they do not divide the global batch of {args.batch}")
    counts = [p for p in counts if p not in skipped]
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for p in counts:
            print(f"-- {p} process(es), {args.steps} steps, global batch {args.batch}", flush=True)
            runs[p] = launch(p, args, Path(tmp) / f"{p}.json")
    one = runs[counts[0]]
    step_ms = {p: r["seconds"] / args.steps * 1000 for p, r in runs.items()}
    result = {
        "processes": counts,
        "tokens_per_s": [round(runs[p]["tokens_per_s"], 1) for p in counts],
        "speed_up": [round(runs[p]["tokens_per_s"] / one["tokens_per_s"], 3) for p in counts],
        "step_ms": [round(step_ms[p], 2) for p in counts],
        "allreduce_ms": [round(runs[p]["allreduce_ms"], 3) for p in counts],
        "allreduce_share": [round(runs[p]["allreduce_ms"] / step_ms[p], 3) for p in counts],
        "threads_per_process": [runs[p]["threads"] for p in counts],
        "loss_max_abs_diff": max(max(abs(a - b) for a, b in zip(r["loss"], one["loss"])) for r in runs.values()),
        "final_loss": [round(runs[p]["loss"][-1], 4) for p in counts],
        "steps": args.steps, "global_batch": args.batch, "parameters": one["parameters"],
        "device": one["device"], "torch": torch.__version__, "cpu_count": os.cpu_count(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    print(f"\n{'processes':>9} {'threads':>7} {'tokens/s':>10} {'speed-up':>8} {'step ms':>8} {'all-reduce ms':>13} "
          f"{'share':>6} {'final loss':>10}")
    for i, p in enumerate(counts):
        print(f"{p:>9} {result['threads_per_process'][i]:>7} {result['tokens_per_s'][i]:>10,.0f} "
              f"{result['speed_up'][i]:>8.2f} {result['step_ms'][i]:>8.1f} {result['allreduce_ms'][i]:>13.2f} "
              f"{result['allreduce_share'][i]:>6.1%} {result['final_loss'][i]:>10.4f}")
    print(f"largest difference between the loss curves: {result['loss_max_abs_diff']:.2e}")
    if not args.quick or args.out != RESULTS:
        write_results(args.out, result)
    return result


if __name__ == "__main__":
    main()
