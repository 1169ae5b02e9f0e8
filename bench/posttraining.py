"""Benchmark: instruction tuning (SFT with LoRA on assistant tokens) and preference tuning (DPO) of
SmolLM2-135M-Instruct, on data the course makes offline.

* sft: LoRA SFT through the course's one loop (``helpers.instruct.sft_step``) on FLAN-style tasks
  (``helpers.chat_data``: sentiment, modernise, summary, continue; ``entities`` held out of training).
  Each task's score on its test split (greedy replies) ``before`` and ``after``, the held-out task
  included, and the perplexity per token of held-out general text (the end of the Wikipedia excerpt)
  ``heldout_ppl_before`` / ``heldout_ppl_after``: what instruction tuning costs in general ability.
* dpo: prompts that ask for a film review, in every tone (critical asks included); four sampled
  replies each from the base model; the judge (notebook 09's fine-tuned MiniLM sentiment classifier)
  scores them and the most positive is chosen, the least positive rejected; identical or tied pairs
  dropped and counted. DPO (``helpers.preference``, reference = adapters off) on those pairs.
  ``reward_before`` / ``reward_after``: the judge's mean P(positive) of replies sampled for held-out
  prompts (two each); ``positive_rate_*``: the share it calls positive; ``kl``: KL(policy || reference)
  in nats per reply, on the policy's own samples.
* sft_chosen_only: the same keys for LoRA SFT on the chosen replies only (the baseline: what DPO adds
  beyond imitating the preferred answers), with the same steps and learning rate.

Goals (2 idle cores): SFT improves every trained task's score; DPO raises the positive rate by at
least 20 points and beats SFT on chosen replies at a comparable KL.

    python bench/posttraining.py                      # the full run (writes bench/results/posttraining.json)
    python bench/posttraining.py --quick --out x.json # under a minute: the tiny random model, tiny sizes
    python bench/posttraining.py --small --threads 1 --out /tmp/posttraining_small.json  # a reduced run, busy machine
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_common.py
from _common import write_results  # noqa: E402

from helpers import chat_data, data, instruct, posttraining as pt, preference  # noqa: E402
from helpers.batches import random_batches  # noqa: E402
from helpers.generation import perplexity  # noqa: E402
from helpers.training import TrainConfig, train  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "posttraining.json"
# Sentiment replies are one word, so it is scored on more examples (cheap): with 8, accuracy moves in 12-point steps.
FULL = dict(n_per_task=200, n_eval=16, n_eval_sentiment=48, sft_steps=32, sft_batch=8, sft_lr=1e-3,
            n_prompts=64, n_samples=4, n_eval_prompts=32, n_eval_samples=2, reply_tokens=32, dpo_steps=30,
            dpo_batch=8, dpo_lr=5e-4, beta=0.1, lora_rank=8, judge_train=2000, judge_length=64, ppl_chars=4000,
            max_new=None)
QUICK = dict(n_per_task=12, n_eval=2, n_eval_sentiment=2, sft_steps=3, sft_batch=4, sft_lr=1e-2,
             n_prompts=4, n_samples=2, n_eval_prompts=3, n_eval_samples=1, reply_tokens=6, dpo_steps=2,
             dpo_batch=4, dpo_lr=1e-2, beta=0.1, lora_rank=4, judge_train=20, judge_length=32, ppl_chars=400,
             max_new={t: 4 for t in chat_data.TASKS})
SMALL = {**FULL, **dict(n_per_task=120, n_eval=6, n_eval_sentiment=32, sft_steps=20, n_prompts=40, n_eval_prompts=24,
                         reply_tokens=24, dpo_steps=16,
                         max_new={"modernise": 28, "summary": 32, "entities": 24, "continue": 28})}
TRAINED = ("sentiment", "modernise", "summary", "continue")
HELD_OUT = ("entities",)


def lora(hf, s):
    return instruct.add_causal_lora(copy.deepcopy(hf), r=s["lora_rank"], target_modules=("q_proj", "v_proj", "o_proj"))


def fit(model, batch, s, steps, lr, step_fn, bs):
    cfg = TrainConfig(max_iters=steps, batch_size=bs, learning_rate=lr, min_lr=lr / 10,
                      warmup_iters=max(1, steps // 10), weight_decay=0.0, eval_interval=0, eval_iters=1, seed=0)
    history = train(model, random_batches({"train": batch, "val": batch}, bs, "cpu"), cfg, step_fn=step_fn,
                    device="cpu")
    return model.eval(), history


def heldout_ppl(model, tok, chars):
    text = data.documents("wiki")[-1][:chars]  # the excerpt's last article: general text no task uses
    return perplexity(model, torch.tensor(tok(text)["input_ids"]), block_size=256)["ppl_token"]


def judge_replies(model, tok, judge, prompts, s, seed):
    replies = [r for rs in pt.sample_replies(model, tok, prompts, s["n_eval_samples"], s["reply_tokens"], seed=seed)
               for r in rs]
    rewards = pt.judge_rewards(judge, replies, s["judge_length"])
    return replies, {"reward": round(sum(rewards) / len(rewards), 4),
                     "positive_rate": round(100 * sum(r > 0.5 for r in rewards) / len(rewards), 1)}


def sampled_kl(model, tok, prompts, s):
    """KL(policy || reference) on replies sampled from the policy."""
    fast = pt.merged_llama(model)
    replies = [r[0] for r in pt.sample_replies(fast, tok, prompts, 1, s["reply_tokens"], seed=99)]
    convs = [[{"role": "user", "content": p}, {"role": "assistant", "content": r or "."}]
             for p, r in zip(prompts, replies)]
    return round(preference.kl_from_reference(model, *instruct.encode_chats(tok, convs)), 4)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the tiny random model and tiny sizes (under a minute)")
    ap.add_argument("--small", action="store_true", help="a reduced run for a busy machine (writes only to --out)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="where to write the JSON (default bench/results)")
    args = ap.parse_args(argv)
    if (args.quick or args.small) and args.out is None:
        raise SystemExit("--quick and --small never write over the full run's results: give --out PATH.")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    s = QUICK if args.quick else SMALL if args.small else FULL
    t_start = time.perf_counter()
    times = {}

    def lap(name, t0):
        times[name] = round(time.perf_counter() - t0, 1)
        print(f"  {name}: {times[name]} s", flush=True)

    from helpers.llama import load_smollm2

    t0 = time.perf_counter()
    course, hf, tok = load_smollm2(block_size=1024, tiny=args.quick)
    lap("load", t0)

    # ---- SFT ----
    t0 = time.perf_counter()
    ds = chat_data.instruction_data(TRAINED + HELD_OUT, s["n_per_task"], HELD_OUT, seed=0, max_chars=300)
    test = [e for t in TRAINED + HELD_OUT
            for e in [x for x in ds["test"] if x.task == t][:s["n_eval_sentiment" if t == "sentiment" else "n_eval"]]]
    batch = instruct.encode_chats(tok, [e.messages() for e in ds["train"]], max_length=256)
    lap("data", t0)
    t0 = time.perf_counter()
    before = pt.task_scores(course, tok, test, s["max_new"])
    ppl_before = heldout_ppl(course, tok, s["ppl_chars"])
    lap("sft eval before", t0)
    t0 = time.perf_counter()
    sft, hist = fit(lora(hf, s), batch, s, s["sft_steps"], s["sft_lr"], instruct.sft_step, s["sft_batch"])
    lap("sft train", t0)
    t0 = time.perf_counter()
    fast = pt.merged_llama(sft)
    after = pt.task_scores(fast, tok, test, s["max_new"])
    ppl_after = heldout_ppl(fast, tok, s["ppl_chars"])
    lap("sft eval after", t0)
    result = {"sft": {"before": before, "after": after, "heldout_task": list(HELD_OUT),
                      "metric": {t: chat_data.METRICS[t] for t in before},
                      "heldout_ppl_before": round(ppl_before, 3), "heldout_ppl_after": round(ppl_after, 3),
                      "train_loss_first_last": [round(hist["loss"][0], 3), round(hist["loss"][-1], 3)],
                      "train_examples": len(ds["train"]),
                      "eval_per_task": {t: sum(e.task == t for e in test) for t in before}}}

    # ---- preferences from the judge ----
    t0 = time.perf_counter()
    judge = pt.sentiment_judge(n_train=s["judge_train"], max_length=s["judge_length"])
    lap("judge", t0)
    t0 = time.perf_counter()
    prompts = pt.review_prompts(s["n_prompts"], seed=0)
    eval_prompts = pt.review_prompts(s["n_prompts"] + s["n_eval_prompts"], seed=0)[s["n_prompts"]:]
    replies = pt.sample_replies(course, tok, prompts, s["n_samples"], s["reply_tokens"], seed=1)
    rewards = [pt.judge_rewards(judge, r, s["judge_length"]) for r in replies]  # per prompt, per reply
    pairs, dropped = preference.best_and_worst_pairs(prompts, replies, rewards)
    pair_batch = preference.encode_pairs(tok, pairs, max_length=256)
    lap("sample pairs", t0)
    t0 = time.perf_counter()
    _, base_eval = judge_replies(course, tok, judge, eval_prompts, s, seed=2)
    lap("judge base", t0)

    # ---- DPO ----
    t0 = time.perf_counter()
    dpo_model = lora(hf, s)
    dpo_batch = preference.add_reference_logps(dpo_model, pair_batch)
    dpo_model, dpo_hist = fit(dpo_model, dpo_batch, s, s["dpo_steps"], s["dpo_lr"],
                              preference.dpo_step(s["beta"]), min(s["dpo_batch"], len(pairs)))
    lap("dpo train", t0)
    t0 = time.perf_counter()
    _, dpo_eval = judge_replies(pt.merged_llama(dpo_model), tok, judge, eval_prompts, s, seed=2)
    dpo_kl = sampled_kl(dpo_model, tok, eval_prompts, s)
    lap("dpo eval", t0)

    # ---- SFT on the chosen replies only ----
    t0 = time.perf_counter()
    chosen_model, _ = fit(lora(hf, s), preference.chosen_only_batch(pair_batch), s, s["dpo_steps"], s["dpo_lr"],
                          instruct.sft_step, min(s["dpo_batch"], len(pairs)))
    lap("chosen-only train", t0)
    t0 = time.perf_counter()
    _, chosen_eval = judge_replies(pt.merged_llama(chosen_model), tok, judge, eval_prompts, s, seed=2)
    chosen_kl = sampled_kl(chosen_model, tok, eval_prompts, s)
    lap("chosen-only eval", t0)

    def block(ev, kl):
        return {"reward_before": base_eval["reward"], "reward_after": ev["reward"],
                "positive_rate_before": base_eval["positive_rate"], "positive_rate_after": ev["positive_rate"],
                "kl": kl}

    result["dpo"] = {**block(dpo_eval, dpo_kl), "pairs": len(pairs), "dropped": dropped, "beta": s["beta"],
                     "chosen_reward_mean": round(sum(max(r) for r in rewards) / len(rewards), 4),
                     "rejected_reward_mean": round(sum(min(r) for r in rewards) / len(rewards), 4),
                     "train_reward_accuracy_last": round(dpo_hist["train_reward_accuracy"][-1], 3)
                     if "train_reward_accuracy" in dpo_hist else None}
    result["sft_chosen_only"] = block(chosen_eval, chosen_kl)
    trained_up = all(after[t] > before[t] for t in TRAINED)
    result["goals"] = {} if args.quick else {
        "sft_improves_every_trained_task": trained_up,
        "dpo_positive_rate_plus_20": dpo_eval["positive_rate"] - base_eval["positive_rate"] >= 20,
        "dpo_beats_chosen_only": dpo_eval["positive_rate"] > chosen_eval["positive_rate"],
        "kl_dpo_vs_chosen_only": [dpo_kl, chosen_kl]}
    result["settings"] = {**s, "quick": args.quick, "small": args.small, "threads": args.threads}
    result["seconds"] = {**times, "total": round(time.perf_counter() - t_start, 1)}
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]

    print(f"\n{'task':<11}{'metric':>9}{'before':>9}{'after':>9}")
    for t in before:
        print(f"{t + (' *' if t in HELD_OUT else ''):<11}{chat_data.METRICS[t]:>9}{before[t]:>9.1f}{after[t]:>9.1f}")
    print(f"held-out Wikipedia perplexity/token: {ppl_before:.2f} -> {ppl_after:.2f}   (* not trained on)")
    print(f"\n{'preferences':<16}{'reward':>8}{'positive %':>12}{'KL':>8}   ({len(pairs)} pairs, dropped {dropped})")
    print(f"{'base':<16}{base_eval['reward']:>8.3f}{base_eval['positive_rate']:>12.1f}{0:>8.2f}")
    for name, ev, kl in (("DPO", dpo_eval, dpo_kl), ("SFT on chosen", chosen_eval, chosen_kl)):
        print(f"{name:<16}{ev['reward']:>8.3f}{ev['positive_rate']:>12.1f}{kl:>8.2f}")
    print(f"total {result['seconds']['total']} s, load average {result['load_average']}")
    out_path = args.out or RESULTS
    write_results(out_path, result)
    return result


if __name__ == "__main__":
    main()
