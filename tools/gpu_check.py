"""`make gpu-check`: the course's device paths on a CUDA machine, in a few minutes, with figures.

    python tools/gpu_check.py [--seconds 60] [--out bench/results/gpu.json]

1. what the machine has (GPUs, autocast dtype, whether a gradient scaler is needed);
2. the tests that exercise the device paths, on CUDA (COURSE_DEVICE=cuda): device choice, the
   training engine (mixed precision, accumulation, checkpoints), attention (fused kernels);
3. the one loop on the GPU: 100 steps of the mini-GPT in bfloat16 (or float16 with the scaler), the
   loss must fall;
4. DDP with nccl on 1..N GPUs when there are several (bench/scaling.py);
5. the pretraining benchmark on the GPU (bench/pretraining.py, course model only) and its model
   FLOP utilisation: 6 x parameters + 12 x layers x block x width FLOPs per token (PaLM's count),
   against the card's dense bf16/fp16 peak.

Writes bench/results/gpu.json. On a machine without CUDA it says so and exits 0: the course never
needs a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# dense tensor-core peak in TFLOP/s (bf16, or fp16 where the card has no bf16), from the vendors' sheets
PEAK_TFLOPS = {"H200": 989, "H100": 989, "A100": 312, "A10G": 125, "A10": 125, "L40S": 362, "L4": 121,
               "RTX 4090": 165, "RTX 3090": 71, "V100": 125, "T4": 65}


def peak_tflops(name: str) -> float | None:
    return next((v for k, v in PEAK_TFLOPS.items() if k.lower() in name.lower()), None)


def run(cmd: list[str], **env) -> tuple[int, str, float]:
    t = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    print(out.stdout[-1500:], out.stderr[-1500:] if out.returncode else "", sep="\n")
    return out.returncode, out.stdout, time.perf_counter() - t


def engine_on_gpu() -> dict:
    """100 steps of the mini-GPT through the one loop, mixed precision on."""
    from helpers.device import autocast_dtype, needs_grad_scaler
    from helpers.pretraining import causal_lm_batch
    from helpers.training import TrainConfig, train
    from helpers.transformer import GPT, GPTConfig

    device = torch.device("cuda")
    data = torch.randint(0, 64, (100_000,)) % 8  # a learnable stream: 8 symbols
    model = GPT(GPTConfig(vocab_size=64, block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0)).to(device)
    cfg = TrainConfig(max_iters=100, batch_size=32, warmup_iters=10, eval_interval=50, eval_iters=2, grad_accum=2)
    h = train(model, lambda s, g: causal_lm_batch(data, 64, 32, g, device), cfg, progress=False)
    ok = h["loss"][-1] < h["loss"][0] - 1.0
    print(f"engine on cuda: loss {h['loss'][0]:.3f} -> {h['loss'][-1]:.3f} ({'ok' if ok else 'FAILED'})")
    return {"ok": ok, "first_loss": h["loss"][0], "last_loss": h["loss"][-1],
            "autocast_dtype": str(autocast_dtype(device)), "grad_scaler": needs_grad_scaler(device)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="pretraining benchmark budget")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gpu.json")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu-check: no CUDA device on this machine; nothing to check (the course runs on the CPU).")
        return 0
    gpus = torch.cuda.device_count()
    name = torch.cuda.get_device_name(0)
    result: dict = {"gpu": name, "gpus": gpus, "torch": torch.__version__, "cuda": torch.version.cuda}
    print(f"== {gpus} x {name}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    rc, _, secs = run([sys.executable, "-m", "pytest", "-q", "tests/test_device.py", "tests/test_training.py",
                       "tests/test_attention.py", "tests/test_distributed.py"], COURSE_DEVICE="cuda")
    result["tests"] = {"passed": rc == 0, "seconds": round(secs, 1)}
    result["engine"] = engine_on_gpu()
    if gpus > 1:
        rc, _, _ = run([sys.executable, "bench/scaling.py", "--steps", "200", "--out", "/tmp/gpu_scaling.json"])
        result["scaling"] = json.loads(Path("/tmp/gpu_scaling.json").read_text()) if rc == 0 else {"failed": True}
    rc, _, _ = run([sys.executable, "bench/pretraining.py", "--seconds", str(args.seconds), "--no-reference",
                    "--out", "/tmp/gpu_pretraining.json"])
    if rc == 0:
        bench = json.loads(Path("/tmp/gpu_pretraining.json").read_text())
        c = bench["config"]
        flops_per_token = 6 * bench["parameters"] + 12 * c["n_layer"] * c["block_size"] * c["n_embd"]
        achieved = bench["tokens_per_s"] * flops_per_token / 1e12
        peak = peak_tflops(name)
        result["pretraining"] = {**{k: bench[k] for k in ("tokens_per_s", "steps", "val_loss", "seconds")},
                                 "achieved_tflops": round(achieved, 3), "peak_tflops": peak,
                                 "mfu": round(achieved / peak, 5) if peak else None}
        print(f"pretraining on {name}: {bench['tokens_per_s']:,.0f} tokens/s, {achieved:.2f} TFLOP/s"
              + (f", MFU {achieved / peak:.2%}" if peak else " (peak unknown for this card)"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if result["tests"]["passed"] and result["engine"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
