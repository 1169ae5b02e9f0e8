"""Benchmark: Folio -> modern spelling with the course's encoder-decoder, and summarising ACLSum papers.

    python bench/seq2seq.py                 # both tasks: 10 minutes of training, greedy and beam search; then
                                            # lead-k, the oracle, SmolLM2 zero-shot and LoRA-tuned
    python bench/seq2seq.py --task translation --clock cpu --threads 1   # 10 minutes of one idle core
    python bench/seq2seq.py --task translation --checkpoint /tmp/s2s.safetensors   # train once, then reuse
    python bench/seq2seq.py --task summarisation     # only the summaries (the translation figures are kept)
    python bench/seq2seq.py --quick --out /tmp/s.json     # under a minute, a tiny run (never the results file)

Writes ``bench/results/seq2seq.json`` with ``translation``: copy_bleu, copy_chrf (copying the Folio line),
bleu, chrf (greedy), beam_bleu, beam_chrf (beam search with the width and length penalty chosen on the
validation plays: ``beam_tuning``), train_seconds, sentences_per_s (greedy decoding) and
beam_sentences_per_s, all on a seeded sample of pairs from the test plays (no test play is trained on),
with ``search_errors_greedy`` / ``search_errors_beam``: of the ``greedy_wrong_lines``, those where the model
scores the modern line above greedy's / the beam's output (what a wider search could still repair);
and ``summarisation``: ROUGE-1/2/L of lead-k (k chosen on the validation papers), the extractive oracle,
SmolLM2 zero-shot (``zero_shot_rouge_l``) and SmolLM2 + LoRA (``lora_rouge_l``) on the 100 test papers.
Goals on 2 idle cores: BLEU >= 60 within 10 minutes of training, beam >= greedy + 1, LoRA > lead-k.
One task's run keeps the other's figures in the file. ``--checkpoint``: the translation model is saved
there in the course's one checkpoint format after training, and loaded (no training) when it exists.
The machine's load average before and after is recorded: figures from a busy machine say so.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_common.py
from _common import write_results  # noqa: E402
from helpers import summarisation as S  # noqa: E402
from helpers.checkpoint import checkpoint_info, load_checkpoint  # noqa: E402
from helpers.metrics import corpus_bleu, corpus_chrf  # noqa: E402
from helpers.parallel import build_corpus, parallel_corpus  # noqa: E402
from helpers.pretraining import TrainConfig, train  # noqa: E402
from helpers.seq2seq import (CharTokenizer, Seq2Seq, Seq2SeqConfig, batch_sampler, pairs_to_batches,  # noqa: E402
                             seconds_per_step, sequence_logprob, translate)

QUICK_PLAYS = ["comedy_of_errors", "macbeth", "tempest"]
RESULTS = Path(__file__).resolve().parent / "results" / "seq2seq.json"
LENGTH_PENALTIES = (0.0, 0.5, 1.0, 1.5, 2.0)


def decode_scores(model, tok, pairs, beam_width: int, batch_size: int, length_penalty: float = 1.0) -> dict:
    sources, refs = [s for s, _ in pairs], [t for _, t in pairs]
    start = time.perf_counter()
    hyps = translate(model, tok, sources, beam_width=beam_width, length_penalty=length_penalty,
                     batch_size=batch_size, progress=True)
    seconds = time.perf_counter() - start
    return {"bleu": corpus_bleu(hyps, refs).score, "chrf": corpus_chrf(hyps, refs),
            "sentences_per_s": len(pairs) / seconds, "hyps": hyps}


def trained_model(args, corpus, tok, train_pairs):
    """The translation model: loaded from --checkpoint when that file exists, else trained for the budget
    (and saved there). Returns (model, cfg, facts about the training)."""
    ckpt = args.checkpoint
    if ckpt is not None and ckpt.exists():
        meta = checkpoint_info(ckpt)
        model = Seq2Seq(Seq2SeqConfig(**meta["config"]))
        meta = load_checkpoint(ckpt, model, restore_rng=False)
        history = meta["extra"]["history"]
        print(f"loaded {ckpt} (step {meta['step']}): no training")
        return model, model.config, {"train_seconds": history["seconds"], "train_steps": meta["step"],
                                     "val_loss": history["val"][-1], "train_cpu_seconds_per_thread": None,
                                     "budget_clock": meta["extra"].get("budget_clock"), "checkpoint": str(ckpt)}
    torch.manual_seed(0)
    cfg = Seq2SeqConfig(vocab_size=len(tok), max_len=128, n_embd=args.n_embd, n_head=4, n_enc_layer=args.layers,
                        n_dec_layer=args.layers, dropout=0.0)
    model = Seq2Seq(cfg)
    splits = {"train": pairs_to_batches(tok, train_pairs, cfg.max_len),
              "val": pairs_to_batches(tok, corpus.val, cfg.max_len)}
    get_batch = batch_sampler(splits, args.batch_size)
    tcfg = TrainConfig(max_iters=1, batch_size=args.batch_size, learning_rate=args.lr, min_lr=args.lr / 10,
                       warmup_iters=100, weight_decay=0.01, eval_iters=10, seed=0)
    per_step = seconds_per_step(model, get_batch, tcfg, clock=args.clock)
    tcfg.max_iters = max(10, int(args.seconds / per_step))  # the schedule ends with the budget
    tcfg.warmup_iters = min(100, tcfg.max_iters // 10)
    tcfg.eval_interval = max(1, tcfg.max_iters // 5)
    tcfg.max_seconds = args.seconds * 1.1 if args.clock == "wall" else None  # a hard stop if the machine slows down
    print(f"{model.num_params():,} parameters; {tcfg.max_iters} steps of {args.batch_size} pairs planned")
    cpu = time.process_time()
    history = train(model, get_batch, tcfg, ckpt_path=ckpt, resume=False)  # saved at each evaluation and the end
    cpu_per_thread = (time.process_time() - cpu) / torch.get_num_threads()
    return model, cfg, {"train_seconds": history["seconds"], "train_steps": history["step"][-1],
                        "val_loss": history["val"][-1], "train_cpu_seconds_per_thread": cpu_per_thread,
                        "budget_clock": args.clock, "checkpoint": str(ckpt) if ckpt else None}


def tune_beam(model, tok, val_pairs, widths) -> tuple[dict, list[dict]]:
    """BLEU on validation pairs for each length penalty at the first width, then each other width at the
    best penalty: the setting to use on the test plays, and every trial."""
    trials = []
    for lp in LENGTH_PENALTIES:
        r = decode_scores(model, tok, val_pairs, widths[0], 128, lp)
        trials.append({"beam_width": widths[0], "length_penalty": lp, "val_bleu": r["bleu"], "val_chrf": r["chrf"]})
    best_lp = max(trials, key=lambda t: t["val_bleu"])["length_penalty"]
    for w in widths[1:]:
        r = decode_scores(model, tok, val_pairs, w, max(16, 512 // w), best_lp)
        trials.append({"beam_width": w, "length_penalty": best_lp, "val_bleu": r["bleu"], "val_chrf": r["chrf"]})
    greedy = decode_scores(model, tok, val_pairs, 1, 256)
    trials.append({"beam_width": 1, "length_penalty": None, "val_bleu": greedy["bleu"], "val_chrf": greedy["chrf"]})
    best = max((t for t in trials if t["beam_width"] > 1), key=lambda t: t["val_bleu"])
    return best, trials


def search_errors(model, tok, pairs, greedy_hyps, beam_hyps) -> dict:
    """Of the test lines greedy decoding gets wrong, how many the model scores the modern line higher than
    greedy's output (search errors: what beam search can repair) and higher than the beam's output."""
    wrong = [i for i, ((_, t), g) in enumerate(zip(pairs, greedy_hyps)) if g != t]
    src, ref = [pairs[i][0] for i in wrong], [pairs[i][1] for i in wrong]
    modern = sequence_logprob(model, tok, src, ref)
    above_greedy = int((modern > sequence_logprob(model, tok, src, [greedy_hyps[i] for i in wrong])).sum())
    above_beam = int((modern > sequence_logprob(model, tok, src, [beam_hyps[i] for i in wrong])).sum())
    return {"greedy_wrong_lines": len(wrong), "search_errors_greedy": above_greedy, "search_errors_beam": above_beam}


def translation(args) -> dict:
    if args.quick:  # four short plays, aligned in seconds (the whole corpus takes a minute the first time)
        corpus = build_corpus(plays=QUICK_PLAYS, n_val=1, n_test=1, progress=False)
    else:
        corpus = parallel_corpus()
    print(corpus)
    test = random.Random(0).sample(corpus.test, min(args.test_pairs, len(corpus.test)))
    val = random.Random(1).sample(corpus.val, min(args.val_pairs, len(corpus.val)))
    src, ref = [s for s, _ in test], [t for _, t in test]
    copy_bleu, copy_chrf = corpus_bleu(src, ref).score, corpus_chrf(src, ref)
    full_src, full_ref = zip(*corpus.test)
    copy_bleu_all = corpus_bleu(list(full_src), list(full_ref)).score

    tok = CharTokenizer([s + t for s, t in corpus.train])  # the same characters every run: no need to save it
    train_pairs = corpus.train[:2000] if args.quick else corpus.train
    model, cfg, facts = trained_model(args, corpus, tok, train_pairs)

    widths = [args.beam] + [w for w in args.beam_widths if w != args.beam]
    best, trials = tune_beam(model, tok, val, widths)
    greedy = decode_scores(model, tok, test, 1, 256)
    beam = decode_scores(model, tok, test, best["beam_width"], max(16, 512 // best["beam_width"]),
                         best["length_penalty"])
    default = beam if (best["beam_width"], best["length_penalty"]) == (args.beam, 1.0) else \
        decode_scores(model, tok, test, args.beam, 128, 1.0)
    return {**search_errors(model, tok, test, greedy["hyps"], beam["hyps"]),
        "copy_bleu": copy_bleu, "copy_chrf": copy_chrf, "bleu": greedy["bleu"], "chrf": greedy["chrf"],
        "beam_bleu": beam["bleu"], "beam_chrf": beam["chrf"], "beam_width": best["beam_width"],
        "length_penalty": best["length_penalty"], "beam_tuning": trials, "val_pairs": len(val),
        f"beam_{args.beam}_lp_1_bleu": default["bleu"], **facts,
        "sentences_per_s": greedy["sentences_per_s"], "beam_sentences_per_s": beam["sentences_per_s"],
        "test_pairs": len(test), "test_plays": sorted(p for p, s in corpus.plays.items() if s == "test"),
        "copy_bleu_all_test_pairs": copy_bleu_all, "train_pairs": len(train_pairs),
        "parameters": model.num_params(), "model": cfg.__dict__,
        "examples": [{"folio": s, "modern": t, "greedy": g, "beam": b}
                     for (s, t), g, b in list(zip(test, greedy["hyps"], beam["hyps"]))[:8]],
    }


def summarisation(args, save=lambda part: None) -> dict:
    """Lead-k (k chosen on the validation papers), the oracle, SmolLM2 zero-shot and with LoRA, on one aspect.
    ``save(figures so far)`` is called after each stage, so a run cut short keeps what it measured."""
    aspect, split = args.aspect, ("val" if args.quick else "test")
    val, papers = S.aclsum_papers("val"), S.aclsum_papers(split)
    train_papers = S.aclsum_papers("train")
    if args.quick:
        papers, train_papers = papers[:args.quick_papers], train_papers[:8]
    elif args.test_papers:  # a busy machine: the first N test papers only (the file says how many)
        papers = papers[:args.test_papers]
    refs = [p["summary"][aspect] for p in papers]
    val_refs = [p["summary"][aspect] for p in val]
    lead = {k: S.rouge_scores([S.lead_k(p, k) for p in val], val_refs)["rouge_l"] for k in (1, 2, 3, 4)}
    k = max(lead, key=lead.get)
    out = {"aspect": aspect, "split": split, "papers": len(papers), "lead_k": k, "lead_k_val_rouge_l": lead,
           "max_source_tokens": args.max_source_tokens, "max_new_tokens": args.max_new_tokens,
           "zero_shot_rouge_l": None, "lora_rouge_l": None}
    ways = {"lead": [S.lead_k(p, k) for p in papers],
            "oracle": [S.oracle_summary(p, r, 3) for p, r in zip(papers, refs)]}

    def score():
        for name, preds in ways.items():
            for key, v in S.rouge_scores(preds, refs).items():
                out[f"{name}_{key}"] = v
        out["examples"] = [{"id": p["id"], "human": r, **{n: preds[i] for n, preds in ways.items()}}
                           for i, (p, r) in enumerate(zip(papers[:5], refs[:5]))]
        save(out)

    score()
    if args.no_llm:
        return out
    from helpers.llama import load_smollm2

    t0 = time.perf_counter()
    model, hf, tokenizer = load_smollm2(block_size=1024, tiny=args.quick)
    t1 = time.perf_counter()
    ways["zero_shot"] = S.summarise(model, tokenizer, papers, aspect, args.max_source_tokens, args.max_new_tokens,
                                    progress=True)
    out.update({"load_seconds": t1 - t0, "zero_shot_seconds": time.perf_counter() - t1})
    score()
    del model
    t2 = time.perf_counter()
    tuned, history = S.lora_summariser(hf, tokenizer, train_papers, aspect, args.max_source_tokens,
                                       steps=args.lora_steps, batch_size=args.lora_batch, learning_rate=args.lora_lr,
                                       r=8, top_layers=args.lora_top_layers, progress=True)
    t3 = time.perf_counter()
    ways["lora"] = S.summarise(tuned, tokenizer, papers, aspect, args.max_source_tokens, args.max_new_tokens,
                               progress=True)
    out.update({"lora_train_seconds": t3 - t2, "lora_generate_seconds": time.perf_counter() - t3,
                "lora": {"train_papers": len(train_papers), "steps": args.lora_steps, "batch_size": args.lora_batch,
                         "learning_rate": args.lora_lr, "r": 8, "top_layers": args.lora_top_layers,
                         "first_loss": history["loss"][0], "last_loss": history["loss"][-1]}})
    score()
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a tiny run (< 1 minute); needs --out")
    ap.add_argument("--task", choices=["all", "translation", "summarisation"], default="all")
    ap.add_argument("--seconds", type=float, default=600, help="training budget in seconds")
    ap.add_argument("--test-pairs", type=int, default=2000, help="seeded sample of test pairs decoded")
    ap.add_argument("--val-pairs", type=int, default=500, help="seeded sample of validation pairs for beam tuning")
    ap.add_argument("--beam", type=int, default=4, help="beam width compared with greedy (length penalties tuned on it)")
    ap.add_argument("--beam-widths", type=int, nargs="*", default=[8], help="other widths tried at the best penalty")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="budget in wall seconds, or in CPU seconds per thread (idle-machine time, for a busy machine)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2, help="encoder and decoder blocks each")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--checkpoint", type=Path, default=None,
                    help="translation model: load it from here if the file exists, else train and save it here")
    ap.add_argument("--aspect", choices=S.ASPECTS, default="outcome", help="which human summary is the target")
    ap.add_argument("--max-source-tokens", type=int, default=256, help="SmolLM2's source budget (cropped to fit)")
    ap.add_argument("--max-new-tokens", type=int, default=48, help="longest summary SmolLM2 writes, in tokens")
    ap.add_argument("--lora-steps", type=int, default=25, help="LoRA steps (25 x 4 = one pass over the 100 papers)")
    ap.add_argument("--lora-batch", type=int, default=4)
    ap.add_argument("--lora-lr", type=float, default=2e-3)
    ap.add_argument("--lora-top-layers", type=int, default=8, help="adapters in the last this many layers only")
    ap.add_argument("--no-llm", action="store_true", help="summarisation baselines only (no SmolLM2)")
    ap.add_argument("--test-papers", type=int, default=None, help="summarise only the first N test papers")
    ap.add_argument("--quick-papers", type=int, default=3, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None, help=f"where to write the JSON (default {RESULTS})")
    args = ap.parse_args(argv)
    if args.quick and args.out is None:
        ap.error("--quick writes only where --out says (never over the committed results): add --out PATH.")
    if args.quick:
        args.seconds, args.test_pairs, args.val_pairs = min(args.seconds, 8), min(args.test_pairs, 40), 20
        args.n_embd, args.layers, args.beam_widths = 32, 1, []
        args.lora_steps, args.lora_top_layers = 2, 1
    out_path = args.out or RESULTS
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    this_run: dict = {}

    def write(task: str, figures: dict) -> dict:
        """Put one task's figures in the file, keeping the other task's (read now: a run of the other
        task may have finished meanwhile)."""
        old = json.loads(out_path.read_text()) if out_path.exists() and not args.quick else {}
        this_run[task] = figures
        result = {"translation": old.get("translation"), "summarisation": old.get("summarisation"), **this_run}
        result["machine"] = {**old.get("machine", {}), task: {
            "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "load_average_before": load_before, "load_average_after": os.getloadavg()[0]}}
        result["quick"] = args.quick
        tr, sm = result["translation"], result["summarisation"]
        if not args.quick:
            result["goals"] = {
                "bleu >= 60": bool(tr) and (tr["bleu"] >= 60 or tr["beam_bleu"] >= 60),
                "beam >= greedy + 1": bool(tr) and tr["beam_bleu"] >= tr["bleu"] + 1,
                "lora > lead-k (ROUGE-L)": bool(sm) and sm.get("lora_rouge_l") is not None
                and sm["lora_rouge_l"] > sm["lead_rouge_l"]}
        write_results(out_path, result)
        return result

    if args.task in ("all", "translation"):
        result = write("translation", translation(args))
    if args.task in ("all", "summarisation"):
        result = write("summarisation", summarisation(args, save=lambda part: write("summarisation", part)))
    tr, sm = result["translation"], result["summarisation"]
    if tr and args.task != "summarisation":
        print(f"\n{'way':<26}{'BLEU':>8}{'chrF':>8}{'sent/s':>10}")
        print(f"{'copy the Folio line':<26}{tr['copy_bleu']:>8.2f}{tr['copy_chrf']:>8.2f}{'':>10}")
        print(f"{'greedy':<26}{tr['bleu']:>8.2f}{tr['chrf']:>8.2f}{tr['sentences_per_s']:>10.1f}")
        name = f"beam {tr['beam_width']}, lp {tr['length_penalty']}"
        print(f"{name:<26}{tr['beam_bleu']:>8.2f}{tr['beam_chrf']:>8.2f}{tr['beam_sentences_per_s']:>10.1f}")
        print(f"trained {tr['train_steps']} steps in {tr['train_seconds']:.0f} s")
        if "greedy_wrong_lines" in tr:
            print(f"of {tr['greedy_wrong_lines']} lines greedy gets wrong, the model scores the modern line higher "
                  f"(search errors) in {tr['search_errors_greedy']}; above the beam's output in {tr['search_errors_beam']}")
    if sm and args.task != "translation":
        print(f"\nsummarisation ({sm['aspect']}, {sm['papers']} {sm['split']} papers)")
        print(f"{'way':<26}{'R-1':>8}{'R-2':>8}{'R-L':>8}")
        for name in ("lead", "oracle", "zero_shot", "lora"):
            if f"{name}_rouge_1" in sm:
                label = f"lead-{sm['lead_k']}" if name == "lead" else name
                print(f"{label:<26}{sm[name + '_rouge_1']:>8.3f}{sm[name + '_rouge_2']:>8.3f}{sm[name + '_rouge_l']:>8.3f}")
    print(f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}")
    return result


if __name__ == "__main__":
    main()
