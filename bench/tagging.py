"""Benchmark: a softmax tagger against a CRF tagger, on the same data with the same budget.

Both are the pretrained all-MiniLM-L6-v2 with a fresh linear head (the same seed), fine-tuned with
the course's loop on IMDB sentences machine-labelled by spaCy (``data.entity_sentences``, the data of
notebook 10, split by review); the CRF tagger adds transition scores (``helpers.crf``), trains on
each sentence's sequence log-likelihood and decodes with Viterbi, BIO-constrained. On the same test
sentences it reports entity precision, recall and F1 (``helpers.bio.entity_scores``, equal to
seqeval's) and the number of invalid BIO transitions (an I-X that does not follow B-X or I-X).

    python bench/tagging.py            # 800 reviews, 150 steps per tagger (notebook 10's budget; about 4 minutes on
                                       # 2 idle cores, estimated)
    python bench/tagging.py --quick    # 30 reviews, 4 steps (about a minute; writes only to --out)

Writes bench/results/tagging.json: ``softmax`` and ``crf``, each with ``entity_f1``, ``precision``,
``recall``, ``invalid_transitions``, ``seconds``; and the run's settings.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_common.py

import _common  # noqa: E402
from helpers import data  # noqa: E402
from helpers.bio import entity_scores, label_list  # noqa: E402
from helpers.crf import invalid_transitions  # noqa: E402
from helpers.device import describe, get_device  # noqa: E402
from helpers.tagging import (crf_tagger, encode_tagged, fine_tune_tagger, predict_tags,  # noqa: E402
                             token_classifier)


def main(argv=None) -> dict:
    parser = _common.parser(__doc__)
    parser.add_argument("--docs", type=int, default=800, help="IMDB reviews labelled by spaCy")
    parser.add_argument("--steps", type=int, default=150, help="fine-tuning steps per tagger (16 sentences each)")
    parser.add_argument("--lr", type=float, default=3e-4)
    args, out = _common.parse(parser, argv, "tagging", {"docs": 30, "steps": 4})
    device = get_device()

    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    splits = data.entity_sentences("imdb", n_docs=args.docs, seed=args.seed)
    labels = label_list(data.ENTITY_TYPES)
    tokenizer = AutoTokenizer.from_pretrained(data.minilm_dir())
    enc = {name: encode_tagged(tokenizer, part.words, part.tags, labels) for name, part in splits.items()}
    gold = splits["test"].tags
    results = {}
    for name, make in [("softmax", token_classifier), ("crf", crf_tagger)]:
        model = make(labels, seed=args.seed)
        start = time.perf_counter()
        fine_tune_tagger(model, enc["train"], enc["validation"], steps=args.steps, batch_size=16, lr=args.lr,
                         eval_interval=args.steps, eval_iters=2, seed=args.seed, device=device)
        seconds = time.perf_counter() - start
        pred = predict_tags(model, enc["test"], labels)
        s = entity_scores(gold, pred)
        results[name] = {"entity_f1": s["f1"], "precision": s["precision"], "recall": s["recall"],
                         "invalid_transitions": invalid_transitions(pred), "seconds": round(seconds, 1)}

    print(f"\n{len(gold)} test sentences, {sum(t.startswith('B-') for g in gold for t in g)} gold entities")
    print(f"{'tagger':<9}{'entity F1':>10}{'precision':>10}{'recall':>8}{'invalid':>9}{'seconds':>9}")
    for name, r in results.items():
        print(f"{name:<9}{r['entity_f1']:>10.3f}{r['precision']:>10.3f}{r['recall']:>8.3f}"
              f"{r['invalid_transitions']:>9}{r['seconds']:>9.0f}")
    goals = {"crf_f1_at_least_softmax": results["crf"]["entity_f1"] >= results["softmax"]["entity_f1"],
             "crf_zero_invalid": results["crf"]["invalid_transitions"] == 0}
    print("goals:", goals)
    record = dict(results, goals=goals, settings={
        "docs": args.docs, "steps": args.steps, "lr": args.lr, "seed": args.seed, "batch_size": 16,
        "test_sentences": len(gold), "quick": args.quick, **_common.machine(describe(device))})
    _common.write_results(out, record)
    return record


if __name__ == "__main__":
    main()
