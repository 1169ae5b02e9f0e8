"""Benchmark: extractive question answering with a span head on MiniLM, against a baseline.

Cloze questions are built from the Wikipedia excerpt the way the CNN/Daily Mail reading-comprehension
sets were (``helpers.qa.cloze_questions``): in a passage of six sentences, one sentence that names an
entity also named elsewhere in the passage becomes the question, the entity blanked; the answer is a span
of the rest of the passage. The split is by article. all-MiniLM-L6-v2 with a fresh span head is
fine-tuned with the course's loop on windows of 192 tokens (overlapping by 64 when a passage is longer);
the answer is the best valid span over a question's windows. Scores are SQuAD's exact match and token F1
in percent, beside the baseline that answers with the passage's most frequent entity of the answer's type.

    python bench/qa.py            # 106 articles, 250 steps (about 8 minutes on 2 idle cores, estimated)
    python bench/qa.py --quick    # 30 articles, 4 steps (under a minute once spaCy's labels are cached)

Writes bench/results/qa.json: ``cloze`` with ``exact_match``, ``f1``, ``baseline`` (the same keys),
``entities_only`` (the same model choosing among the context's entity mentions, as the CNN/Daily Mail readers
did), ``questions`` and ``windows`` per split, ``seconds``, and the run's settings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from helpers import data  # noqa: E402
from helpers.device import describe, get_device  # noqa: E402
from helpers.qa import (cloze_questions, encode_questions, fine_tune_qa, most_frequent_entity,  # noqa: E402
                        predict_answers, qa_scores, span_model)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, under a minute (writes only to --out)")
    parser.add_argument("--articles", type=int, default=106, help="Wikipedia articles to make questions from")
    parser.add_argument("--steps", type=int, default=250, help="fine-tuning steps (16 windows each)")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", default=None, help="where to write the JSON (default bench/results/qa.json)")
    args = parser.parse_args(argv)
    if args.quick:
        args.articles, args.steps = 30, 4
    if args.quick and args.out is None:
        parser.error("--quick writes only to the file --out names (never over the committed results).")
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out or Path(__file__).parent / "results" / "qa.json")
    device = get_device()

    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    questions = cloze_questions(n_articles=args.articles, seed=args.seed)
    tokenizer = AutoTokenizer.from_pretrained(data.minilm_dir())
    feats = {name: encode_questions(tokenizer, qs) for name, qs in questions.items()}
    model = span_model(seed=args.seed)
    start = time.perf_counter()
    fine_tune_qa(model, feats["train"], feats["validation"], steps=args.steps, lr=args.lr, eval_iters=2,
                 seed=args.seed, device=device)
    seconds = time.perf_counter() - start
    test = questions["test"]
    predictions = predict_answers(model, feats["test"], test)
    model_scores = qa_scores(predictions, test)
    entity_scores = qa_scores(predict_answers(model, feats["test"], test, entities_only=True), test)
    baseline = qa_scores([most_frequent_entity(q) for q in test], test)
    cloze = {"exact_match": model_scores["exact_match"], "f1": model_scores["f1"],
             "baseline": {"exact_match": baseline["exact_match"], "f1": baseline["f1"]},
             "entities_only": {"exact_match": entity_scores["exact_match"], "f1": entity_scores["f1"]},
             "questions": {name: len(qs) for name, qs in questions.items()},
             "windows": {name: len(f) for name, f in feats.items()}, "seconds": round(seconds, 1)}

    print(f"\n{len(test)} test questions ({len(feats['test'])} windows)")
    print(f"{'':<34}{'exact match':>12}{'F1':>7}")
    print(f"{'most frequent entity of the type':<34}{baseline['exact_match']:>12.1f}{baseline['f1']:>7.1f}")
    print(f"{'MiniLM + span head':<34}{model_scores['exact_match']:>12.1f}{model_scores['f1']:>7.1f}")
    print(f"{'  the same, entity mentions only':<34}{entity_scores['exact_match']:>12.1f}{entity_scores['f1']:>7.1f}")
    goals = {"f1_20_points_over_baseline": model_scores["f1"] >= baseline["f1"] + 20}
    print("goals:", goals)
    record = {"cloze": cloze, "goals": goals, "settings": {
        "articles": args.articles, "steps": args.steps, "lr": args.lr, "seed": args.seed, "batch_size": 16,
        "max_length": 192, "stride": 64, "quick": args.quick, "device": describe(device),
        "threads": torch.get_num_threads(), "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(), "torch": torch.__version__}}
    if out.exists() and not args.quick and out.resolve() == (Path(__file__).parent / "results" / "qa.json").resolve():
        previous = json.loads(out.read_text())
        record = {**previous, **record}  # keep the other tasks' rows (sentence_selection)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")
    return record


if __name__ == "__main__":
    main()
