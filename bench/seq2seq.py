"""Benchmark: Folio -> modern spelling with the course's encoder-decoder, against copying the source.

    python bench/seq2seq.py                 # full: 10 minutes of training, then greedy and beam search
    python bench/seq2seq.py --clock cpu --threads 1   # 10 minutes of one idle core, on a busy machine
    python bench/seq2seq.py --quick --out /tmp/s.json     # under a minute, a tiny run (never the results file)

Writes ``bench/results/seq2seq.json`` with ``translation``: copy_bleu, copy_chrf (copying the Folio line),
bleu, chrf (greedy), beam_bleu, beam_chrf (beam search), train_seconds, sentences_per_s (greedy decoding)
and beam_sentences_per_s, all on a seeded sample of pairs from the test plays (no test play is trained on).
Goals on 2 idle cores: BLEU >= 60 within 10 minutes of training, beam >= greedy + 1.
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
from helpers.metrics import corpus_bleu, corpus_chrf, rouge  # noqa: E402
from helpers.parallel import build_corpus, parallel_corpus  # noqa: E402
from helpers.pretraining import TrainConfig, train  # noqa: E402
from helpers.seq2seq import (CharTokenizer, Seq2Seq, Seq2SeqConfig, batch_sampler, pairs_to_batches,  # noqa: E402
                             seconds_per_step, translate)

QUICK_PLAYS = ["comedy_of_errors", "macbeth", "tempest"]
RESULTS = Path(__file__).resolve().parent / "results" / "seq2seq.json"


def decode_scores(model, tok, pairs, beam_width: int, batch_size: int) -> dict:
    sources, refs = [s for s, _ in pairs], [t for _, t in pairs]
    start = time.perf_counter()
    hyps = translate(model, tok, sources, beam_width=beam_width, batch_size=batch_size, progress=True)
    seconds = time.perf_counter() - start
    return {"bleu": corpus_bleu(hyps, refs).score, "chrf": corpus_chrf(hyps, refs),
            "sentences_per_s": len(pairs) / seconds, "hyps": hyps}


def aclsum_papers(split: str) -> list[dict]:
    """ACLSum's papers of one split, read from the package's JSON-lines files (the package itself imports
    ``sienna``, which the course does not install): id, summary (per aspect), sentences (per section)."""
    from helpers import data

    path = data.asset_path("aclsum") / f"{split}.jsonl"  # a clear message, with the pip command, if missing
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def summarisation_baselines(aspect: str = "outcome", lead_k: int = 3, split: str = "test",
                            with_oracle: bool = True) -> dict:
    """ROUGE of two extractive baselines against ACLSum's human summaries of one aspect:
    lead-k (the abstract's first k sentences) and the oracle (greedily the sentences that raise ROUGE-L
    most against the human summary: an upper bound for any extractive method, which reads the answer)."""
    papers = aclsum_papers(split)
    refs = [p["summary"][aspect] for p in papers]
    ways = {"lead": [" ".join(p["sentences"]["abstract"][:lead_k]) for p in papers]}
    if with_oracle:
        ways["oracle"] = []
        for p, ref in zip(papers, refs):
            sentences = [x for sec in ("abstract", "introduction", "conclusion") for x in p["sentences"][sec]]
            chosen, best = [], 0.0
            for _ in range(lead_k):
                gains = [(rouge([" ".join(chosen + [x])], [ref])["rougeL"]["f"], x) for x in sentences if x not in chosen]
                if not gains or max(gains)[0] <= best:
                    break
                best, pick = max(gains)
                chosen.append(pick)
            ways["oracle"].append(" ".join(chosen))
    out = {"aspect": aspect, "split": split, "papers": len(papers), "lead_k": lead_k}
    for name, preds in ways.items():
        r = rouge(preds, refs)
        out.update({f"{name}_rouge_1": r["rouge1"]["f"], f"{name}_rouge_2": r["rouge2"]["f"],
                    f"{name}_rouge_l": r["rougeL"]["f"]})
    out["zero_shot_rouge_l"] = out["lora_rouge_l"] = None  # SmolLM2 zero-shot and LoRA: not measured yet
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a tiny run (< 1 minute); needs --out")
    ap.add_argument("--seconds", type=float, default=600, help="training budget in seconds")
    ap.add_argument("--test-pairs", type=int, default=2000, help="seeded sample of test pairs decoded")
    ap.add_argument("--beam", type=int, default=4, help="beam width compared with greedy")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="budget in wall seconds, or in CPU seconds per thread (idle-machine time, for a busy machine)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2, help="encoder and decoder blocks each")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--out", type=Path, default=None, help=f"where to write the JSON (default {RESULTS})")
    args = ap.parse_args(argv)
    if args.quick and args.out is None:
        ap.error("--quick writes only where --out says (never over the committed results): add --out PATH.")
    if args.quick:
        args.seconds, args.test_pairs = min(args.seconds, 8), min(args.test_pairs, 40)
        args.n_embd, args.layers = 32, 1
    out_path = args.out or RESULTS
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]

    if args.quick:  # four short plays, aligned in seconds (the whole corpus takes a minute the first time)
        corpus = build_corpus(plays=QUICK_PLAYS, n_val=1, n_test=1, progress=False)
    else:
        corpus = parallel_corpus()
    print(corpus)
    test = random.Random(0).sample(corpus.test, min(args.test_pairs, len(corpus.test)))
    src, ref = [s for s, _ in test], [t for _, t in test]
    copy_bleu, copy_chrf = corpus_bleu(src, ref).score, corpus_chrf(src, ref)
    full_src, full_ref = zip(*corpus.test)
    copy_bleu_all = corpus_bleu(list(full_src), list(full_ref)).score

    torch.manual_seed(0)
    tok = CharTokenizer([s + t for s, t in corpus.train])
    cfg = Seq2SeqConfig(vocab_size=len(tok), max_len=128, n_embd=args.n_embd, n_head=4, n_enc_layer=args.layers,
                        n_dec_layer=args.layers, dropout=0.0)
    model = Seq2Seq(cfg)
    train_pairs = corpus.train[:2000] if args.quick else corpus.train
    splits = {"train": pairs_to_batches(tok, train_pairs, cfg.max_len), "val": pairs_to_batches(tok, corpus.val, cfg.max_len)}
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
    history = train(model, get_batch, tcfg)
    cpu_per_thread = (time.process_time() - cpu) / torch.get_num_threads()

    greedy = decode_scores(model, tok, test, 1, 256)
    beam = decode_scores(model, tok, test, args.beam, 128)
    result = {
        "translation": {
            "copy_bleu": copy_bleu, "copy_chrf": copy_chrf, "bleu": greedy["bleu"], "chrf": greedy["chrf"],
            "beam_bleu": beam["bleu"], "beam_chrf": beam["chrf"], "beam_width": args.beam,
            "train_seconds": history["seconds"], "train_steps": history["step"][-1], "budget_clock": args.clock,
            "train_cpu_seconds_per_thread": cpu_per_thread,
            "val_loss": history["val"][-1], "sentences_per_s": greedy["sentences_per_s"],
            "beam_sentences_per_s": beam["sentences_per_s"], "test_pairs": len(test),
            "test_plays": sorted(p for p, s in corpus.plays.items() if s == "test"),
            "copy_bleu_all_test_pairs": copy_bleu_all, "train_pairs": len(train_pairs),
            "parameters": model.num_params(), "model": cfg.__dict__,
            "examples": [{"folio": s, "modern": t, "greedy": g, "beam": b}
                         for (s, t), g, b in list(zip(test, greedy["hyps"], beam["hyps"]))[:8]],
        },
        "summarisation": summarisation_baselines(split="val" if args.quick else "test", with_oracle=not args.quick),
        "machine": {"torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                    "load_average_before": load_before, "load_average_after": os.getloadavg()[0]},
        "quick": args.quick,
    }
    if not args.quick:
        tr = result["translation"]
        result["goals"] = {"bleu >= 60": tr["bleu"] >= 60 or tr["beam_bleu"] >= 60,
                           "beam >= greedy + 1": tr["beam_bleu"] >= tr["bleu"] + 1}
    tr = result["translation"]
    print(f"\n{'way':<22}{'BLEU':>8}{'chrF':>8}{'sent/s':>10}")
    print(f"{'copy the Folio line':<22}{tr['copy_bleu']:>8.2f}{tr['copy_chrf']:>8.2f}{'':>10}")
    print(f"{'greedy':<22}{tr['bleu']:>8.2f}{tr['chrf']:>8.2f}{tr['sentences_per_s']:>10.1f}")
    print(f"{f'beam {args.beam}':<22}{tr['beam_bleu']:>8.2f}{tr['beam_chrf']:>8.2f}{tr['beam_sentences_per_s']:>10.1f}")
    print(f"trained {tr['train_steps']} steps in {tr['train_seconds']:.0f} s; load average "
          f"{load_before:.1f} -> {result['machine']['load_average_after']:.1f}")
    sm = result["summarisation"]
    print(f"summarisation ({sm['aspect']}, {sm['papers']} {sm['split']} papers): ROUGE-L lead-{sm['lead_k']} "
          f"{sm['lead_rouge_l']:.3f}, extractive oracle {sm.get('oracle_rouge_l', float('nan')):.3f}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
