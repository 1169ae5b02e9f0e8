"""Benchmark: SmolLM2-135M-Instruct in the course's own code (helpers.llama) against transformers.

On the same de-quantised float32 weights, same prompts, same threads:

* parity: the largest absolute difference between the course's logits and transformers' on held-out
  Shakespeare (the last characters of the corpus; a few hundred tokens), and whether greedy
  continuations of several prompts are identical (transformers may stop at the end-of-turn token:
  the tokens up to there must match);
* speed: the course's ``helpers.generation.generate`` with the KV cache and without it
  (``kv_cache_speedup`` at ``--new-tokens``, 200 by default), against ``model.generate`` of
  transformers (greedy, cache on, never stopping early), timed in turn, the best of ``--repeats``;
  prefill tokens per second (one forward over the held-out text); peak memory torch allocates while
  generating (``helpers.attention.peak_memory_mb``).

Writes bench/results/generation.json with ``parity_max_abs_logit_diff``, ``greedy_match``,
``kv_cache_speedup``, ``tokens_per_s`` (course, cached), ``reference.tokens_per_s`` (transformers),
``prefill_tokens_per_s``, ``peak_memory_mb``, the goals (cache >= 5x; course >= transformers) and the
machine's load average (figures from a busy machine say so).

    python bench/generation.py               # the full run, about 2 minutes on 2 idle cores
    python bench/generation.py --quick       # under a minute: short texts, 16 new tokens
    python bench/generation.py --threads 1
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_common.py
from _common import write_results  # noqa: E402

from helpers import data  # noqa: E402
from helpers.attention import peak_memory_mb  # noqa: E402
from helpers.generation import generate  # noqa: E402
from helpers.llama import load_smollm2  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "generation.json"
PROMPTS = ["The capital of France is", "Once upon a time, in a small village,",
           "def fibonacci(n):", "The three most important inventions of the last century are"]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short texts and 16 new tokens (under a minute)")
    ap.add_argument("--new-tokens", type=int, default=None, help="tokens generated for the speed figures (200)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads for both systems")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs of each system, best kept (2; quick 1)")
    ap.add_argument("--tiny", action="store_true", help="a small random Llama (tests the script, not the model)")
    ap.add_argument("--out", type=Path, default=None, help="where to write the JSON (default bench/results)")
    args = ap.parse_args(argv)
    if (args.quick or args.tiny) and args.out is None:
        raise SystemExit("--quick and --tiny never write over the committed results: give --out PATH.")
    out_path = args.out or RESULTS
    n_new = args.new_tokens or (16 if args.quick else 200)
    args.repeats = args.repeats or (1 if args.quick else 2)
    n_text, n_greedy, prompts = (64, 8, PROMPTS[:2]) if args.quick else (400, 50, PROMPTS)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    t0 = time.perf_counter()
    ours, hf, tok = load_smollm2(block_size=1024, tiny=args.tiny)
    load_s = time.perf_counter() - t0

    # parity: logits on held-out text, in float32
    ids = torch.tensor([tok(data.shakespeare_text()[-4 * n_text - 200:])["input_ids"][-n_text:]])
    with torch.no_grad():
        ours(ids[:, :8]), hf(ids[:, :8])  # warm-up
        logits = {}
        prefill_s = timed(lambda: logits.__setitem__("ours", ours(ids)))
        ref_prefill_s = timed(lambda: logits.__setitem__("hf", hf(ids).logits))
    diff = (logits["ours"] - logits["hf"]).abs().max().item()

    # greedy continuations: identical tokens (up to where transformers stops at the end-of-turn token)
    matches = []
    for p in prompts:
        x = torch.tensor([tok(p)["input_ids"]])
        want = hf.generate(x, max_new_tokens=n_greedy, do_sample=False)
        got = generate(ours, x, n_greedy, greedy=True)
        matches.append(bool(torch.equal(got[:, :want.shape[1]], want)))

    # speed: n_new tokens after the first prompt, batch 1, greedy; transformers never stops early
    x = torch.tensor([tok(prompts[0])["input_ids"]])

    def ref(n):  # transformers' generate, greedy, exactly n tokens
        config = copy.deepcopy(hf.generation_config)
        config.update(eos_token_id=None, pad_token_id=tok.eos_token_id, max_new_tokens=n, min_new_tokens=n,
                      do_sample=False)
        return hf.generate(x, generation_config=config)

    generate(ours, x, 4, greedy=True), ref(4)  # warm-up
    cached_s = ref_s = float("inf")
    for _ in range(args.repeats):  # interleaved, best of each: both see the machine in the same state
        cached_s = min(cached_s, timed(lambda: generate(ours, x, n_new, greedy=True)))
        ref_s = min(ref_s, timed(lambda: ref(n_new)))
    uncached_s = timed(lambda: generate(ours, x, n_new, greedy=True, use_cache=False))
    n_mem = min(n_new, 32)
    memory = {"cached": round(peak_memory_mb(lambda: generate(ours, x, n_mem, greedy=True)), 1),
              "uncached": round(peak_memory_mb(lambda: generate(ours, x, n_mem, greedy=True, use_cache=False)), 1),
              "reference": round(peak_memory_mb(lambda: ref(n_mem)), 1), "new_tokens": n_mem}

    tps = n_new / cached_s
    result = {
        "model": "random tiny Llama (--tiny)" if args.tiny else
            "SmolLM2-135M-Instruct (GGUF Q4_1, de-quantised to float32 by transformers)",
        "parity_max_abs_logit_diff": diff, "parity_tokens": n_text,
        "greedy_match": all(matches), "greedy_tokens": n_greedy, "greedy_prompts": len(prompts),
        "new_tokens": n_new, "prompt_tokens": x.shape[1],
        "tokens_per_s": round(tps, 2), "uncached_tokens_per_s": round(n_new / uncached_s, 2),
        "kv_cache_speedup": round(uncached_s / cached_s, 2),
        "prefill_tokens_per_s": round(n_text / prefill_s, 1),
        "peak_memory_mb": memory,
        "reference": {"name": f"transformers {__import__('transformers').__version__} generate",
                      "tokens_per_s": round(n_new / ref_s, 2),
                      "prefill_tokens_per_s": round(n_text / ref_prefill_s, 1)},
        "speed_vs_reference": round(tps / (n_new / ref_s), 3),
        "load_seconds": round(load_s, 1), "threads": args.threads, "repeats": args.repeats, "dtype": "float32",
        "quick": args.quick,
        "load_average": [round(v, 2) for v in os.getloadavg()], "cpu_count": os.cpu_count(),
        "torch": torch.__version__, "python": platform.python_version(),
    }
    result["goals"] = {} if args.quick or args.tiny else {
        "kv_cache_speedup >= 5": result["kv_cache_speedup"] >= 5,
        "tokens_per_s / reference >= 1": result["speed_vs_reference"] >= 1.0,
        "parity <= 1e-3": diff <= 1e-3, "greedy_match": result["greedy_match"]}

    print(f"{'':<26}{'course':>12}{'transformers':>14}")
    print(f"{'tokens/s (cached)':<26}{tps:>12.2f}{n_new / ref_s:>14.2f}")
    print(f"{'tokens/s (no cache)':<26}{n_new / uncached_s:>12.2f}{'':>14}")
    print(f"{'prefill tokens/s':<26}{n_text / prefill_s:>12.1f}{n_text / ref_prefill_s:>14.1f}")
    print(f"{'peak MB, ' + str(n_mem) + ' tokens':<26}{memory['cached']:>12.1f}{memory['reference']:>14.1f}")
    print(f"KV cache speed-up at {n_new} new tokens: {result['kv_cache_speedup']:.2f}x; "
          f"course / transformers: {result['speed_vs_reference']:.2f}")
    print(f"parity: max |logit diff| {diff:.2e} over {n_text} tokens; greedy match {matches}")
    print(f"load average {result['load_average']} on {os.cpu_count()} cores")
    write_results(out_path, result)
    return result


if __name__ == "__main__":
    main()
