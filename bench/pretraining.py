"""Benchmark: the course's mini-GPT pretrained on Shakespeare, characters, for a fixed wall-clock budget.

The configuration is the one nanoGPT documents for a laptop CPU (config/train_shakespeare_char.py
with its "on a macbook" overrides): 4 layers, 4 heads, 128 dimensions, block 64, batch 12,
dropout 0, lr 1e-3 decaying to 1e-4 (cosine, 100 warm-up steps), AdamW beta2 0.99, weight decay 0.1,
gradient clipping 1.0, 20 evaluation batches, no torch.compile. The data is the course's Shakespeare
(the 42 works joined, 84 distinct characters), 90/10 train/validation split.

Beside it, in the same run and with the same data, loop, batches, schedule and budget, the reference
implementation of the same network: transformers' ``GPT2LMHeadModel`` with the same shape (nanoGPT's
model is GPT-2's, and so is the course's). Both rows share the machine's state at that moment, so
the comparison holds even when the machine is busy; numbers across runs do not.

Prints tokens per second, steps and validation loss, and writes bench/results/pretraining.json with
``tokens_per_s``, ``steps``, ``val_loss``, ``seconds`` (training time, evaluations excluded) for the
course's model at the top level, and the same keys for the reference under ``reference``.

    python bench/pretraining.py              # 5 minutes of training per system, a 6,000-step schedule
    python bench/pretraining.py --seconds 90 # the target's 90 s
    python bench/pretraining.py --quick      # under 60 s on 2 CPU cores
    python bench/pretraining.py --threads 1  # when other programs share the cores (OpenMP waits badly)
    python bench/pretraining.py --no-reference  # the course's model only (half the time)
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_common.py
from _common import write_results  # noqa: E402

from helpers import data  # noqa: E402
from helpers.device import describe, get_device  # noqa: E402
from helpers.pretraining import CharVocab, TrainConfig, causal_lm_batch, estimate_loss, split_tokens, train  # noqa: E402
from helpers.transformer import GPT, GPTConfig  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "pretraining.json"


def course_model(mcfg: GPTConfig) -> torch.nn.Module:
    return GPT(mcfg)


def reference_model(mcfg: GPTConfig) -> torch.nn.Module:
    """The same network in transformers: GPT-2 blocks, learned positions, tied embeddings, no dropout."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(vocab_size=mcfg.vocab_size, n_positions=mcfg.block_size, n_embd=mcfg.n_embd,
                     n_layer=mcfg.n_layer, n_head=mcfg.n_head, resid_pdrop=0.0, embd_pdrop=0.0,
                     attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)  # GPT-2's 50256 is not in 84 characters
    return GPT2LMHeadModel(cfg)


def reference_step(model, batch):
    x, y = batch  # (B, T) inputs and next-token targets, as for the course's model
    logits = model(input_ids=x).logits  # (B, T, vocab)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1)), {}


def run(model, get_batch, tcfg: TrainConfig, step_fn, device, quick: bool) -> dict:
    """Train for the budget; the figures of one row of the table."""
    wall = time.perf_counter()
    hist = train(model, get_batch, tcfg, step_fn=step_fn, progress=sys.stderr.isatty())
    wall = time.perf_counter() - wall
    # the final validation loss over 100 batches, steadier than the 20 of the periodic evaluations
    final = estimate_loss(model, get_batch, 20 if quick else 100, seed=0, step_fn=step_fn, device=device,
                          splits=("val",))["val"]
    return {
        "tokens_per_s": round(hist["tokens"] / hist["seconds"], 1),
        "steps": hist["step"][-1],
        "val_loss": round(hist["val"][-1], 4),
        "val_loss_final_eval": round(final, 4),  # 100 batches (20 with --quick)
        "seconds": round(hist["seconds"], 2),
        "wall_seconds_with_evals": round(wall, 2),
        "val_curve": {str(s): round(v, 4) for s, v in zip(hist["eval_step"], hist["val"])},
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=300.0, help="training wall-clock budget")
    ap.add_argument("--iters", type=int, default=None,
                    help="schedule length (lr decay ends here); default: 2000, or 6000 for budgets over 120 s")
    ap.add_argument("--quick", action="store_true", help="20 s per system and a 1,000-step schedule")
    ap.add_argument("--eval-interval", type=int, default=500)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: torch's choice); 1 is faster on a CPU busy with other work")
    ap.add_argument("--no-reference", action="store_true", help="skip the transformers GPT-2 row")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.seconds, args.iters = 20.0, args.iters or 1000
    iters = args.iters or (2000 if args.seconds <= 120 else 6000)

    device = get_device()
    text = data.shakespeare_text()
    vocab = CharVocab(text)
    ids = torch.tensor(vocab.encode(text), dtype=torch.long)
    train_ids, val_ids = split_tokens(ids, 0.1)
    mcfg = GPTConfig(vocab_size=len(vocab), block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0)
    tcfg = TrainConfig(max_iters=iters, batch_size=12, learning_rate=1e-3, min_lr=1e-4, warmup_iters=100,
                       weight_decay=0.1, beta2=0.99, grad_clip=1.0, eval_interval=args.eval_interval,
                       eval_iters=20, seed=1337, max_seconds=args.seconds)

    def get_batch(split, g):
        return causal_lm_batch(train_ids if split == "train" else val_ids, mcfg.block_size,
                               tcfg.batch_size, g, device)

    print(f"{len(vocab)} characters, {len(train_ids):,} train / {len(val_ids):,} val tokens; {describe(device)}")
    systems = {"course mini-GPT": (course_model, None)}
    if not args.no_reference:
        systems["transformers GPT-2"] = (reference_model, reference_step)
    runs = {}
    for name, (build, step_fn) in systems.items():
        torch.manual_seed(tcfg.seed)
        model = build(mcfg).to(device)
        n_params = sum(p.numel() for p in model.parameters())
        print(f"-- {name}: {n_params / 1e6:.3f}M parameters", flush=True)
        runs[name] = run(model, get_batch, tcfg, step_fn, device, quick=args.quick)
        runs[name]["parameters"] = n_params
    result = runs.pop("course mini-GPT")
    result.update({
        "schedule_iters": iters,
        "budget_seconds": args.seconds,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "config": {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64, "batch_size": 12,
                   "dropout": 0.0, "lr": 1e-3, "min_lr": 1e-4, "warmup": 100, "beta2": 0.99,
                   "weight_decay": 0.1, "eval_iters": 20, "vocab_size": len(vocab)},
        "machine": {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
    })
    if runs:
        import transformers

        result["reference"] = {"implementation": f"transformers {transformers.__version__} GPT2LMHeadModel",
                               **runs["transformers GPT-2"]}
    rows = [("course mini-GPT", result)] + ([("transformers GPT-2", result["reference"])] if runs else [])
    print(f"\n{'system':<20} {'params':>8} {'tokens/s':>10} {'steps':>6} {'val_loss':>9} {'final val':>10} {'seconds':>8}")
    for name, r in rows:
        print(f"{name:<20} {r['parameters']:>8,} {r['tokens_per_s']:>10,.0f} {r['steps']:>6} {r['val_loss']:>9.4f} "
              f"{r['val_loss_final_eval']:>10.4f} {r['seconds']:>8.1f}")
    if runs:
        ratio = result["tokens_per_s"] / result["reference"]["tokens_per_s"]
        result["speed_vs_reference"] = round(ratio, 3)
        print(f"course / reference tokens per second: {ratio:.2f}x")
    if not args.quick or args.out != RESULTS:
        write_results(args.out, result)
    return result


if __name__ == "__main__":
    main()
