"""Benchmark: question answering on MiniLM: cloze QA with a span head, and answer-sentence selection.

Cloze (``--tasks cloze``): questions are built from the Wikipedia excerpt the way the CNN/Daily Mail
reading-comprehension sets were (``helpers.cloze.cloze_questions``): in a passage of six sentences, one sentence
that names an entity also named elsewhere in the passage becomes the question, the entity blanked; the answer
is a span of the rest of the passage. The split is by article. all-MiniLM-L6-v2 with a fresh span head is
fine-tuned with the course's loop on windows of 192 tokens (overlapping by 64 when a passage is longer); the
answer is the best valid span over a question's windows. Scores are SQuAD's exact match and token F1 in
percent, beside the baseline that answers with the passage's most frequent entity of the answer's type.

Sentence selection (``--tasks selection``, ``helpers.selection``): ACLSum's human highlights, each aspect
(challenge, approach, outcome) asked as a question; MiniLM fine-tuned as a cross-encoder on (question,
"section: sentence") pairs of the 100 training papers ranks each test paper's sentences; mean average
precision and precision at 3 over the 100 test papers x 3 aspects, beside the lead sentences and TF-IDF
cosine similarity.

    python bench/qa.py                     # both tasks (cloze: 106 articles, 250 steps; selection: 120 steps)
    python bench/qa.py --tasks selection   # one task; the other task's committed rows are kept
    python bench/qa.py --quick             # tiny sizes, under a minute once spaCy's labels are cached

Writes bench/results/qa.json: ``cloze`` with ``exact_match``, ``f1``, ``baseline`` (the same keys),
``entities_only`` (the same model choosing among the context's entity mentions, as the CNN/Daily Mail readers
did), ``questions`` and ``windows`` per split, ``seconds``; ``sentence_selection`` with ``map``, ``p_at_3``,
``by_aspect``, ``baselines`` (``lead``, ``tfidf``, the same keys), ``papers``, ``pairs``, ``seconds``; the
goals and the run's settings.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_common.py

import _common  # noqa: E402
from helpers import data  # noqa: E402
from helpers.cloze import cloze_questions  # noqa: E402
from helpers.device import describe, get_device  # noqa: E402
from helpers.qa import (encode_questions, fine_tune_qa, most_frequent_entity, predict_answers,  # noqa: E402
                        qa_scores, span_model)
from helpers.selection import (ASPECTS, aclsum_papers, cross_encoder, encode_pairs,  # noqa: E402
                               fine_tune_selection, lead_scores, pair_scores, ranking_scores,
                               selection_pairs, tfidf_scores)


def main(argv=None) -> dict:
    parser = _common.parser(__doc__)
    parser.add_argument("--tasks", default="cloze,selection", help="comma-separated: cloze, selection")
    parser.add_argument("--articles", type=int, default=106, help="Wikipedia articles to make questions from")
    parser.add_argument("--steps", type=int, default=250, help="cloze fine-tuning steps (16 windows each)")
    parser.add_argument("--lr", type=float, default=1e-4, help="cloze learning rate")
    parser.add_argument("--selection-steps", type=int, default=120, help="cross-encoder steps (16 pairs each)")
    parser.add_argument("--selection-lr", type=float, default=1e-4)
    parser.add_argument("--test-papers", type=int, default=100, help="ACLSum test papers ranked (of 100)")
    args, out = _common.parse(parser, argv, "qa", {"articles": 30, "steps": 4, "selection_steps": 4,
                                                    "test_papers": 4})
    tasks = [t for t in args.tasks.split(",") if t]
    if not tasks or set(tasks) - {"cloze", "selection"}:
        parser.error(f"--tasks takes cloze and/or selection, got {args.tasks!r}.")
    device = get_device()

    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    tokenizer = AutoTokenizer.from_pretrained(data.minilm_dir())
    record, goals = {}, {}
    if "cloze" in tasks:
        record["cloze"] = cloze_benchmark(args, tokenizer, device)
        goals["f1_20_points_over_baseline"] = record["cloze"]["f1"] >= record["cloze"]["baseline"]["f1"] + 20
    if "selection" in tasks:
        record["sentence_selection"] = selection_benchmark(args, tokenizer, device)
        sel = record["sentence_selection"]
        goals["selection_map_over_both_baselines"] = all(sel["map"] > b["map"] for b in sel["baselines"].values())
    print("goals:", goals)
    record["settings"] = {"tasks": tasks, "seed": args.seed, "quick": args.quick, **_common.machine(describe(device))}
    if "cloze" in tasks:
        record["settings"].update(articles=args.articles, steps=args.steps, lr=args.lr, batch_size=16,
                                  max_length=192, stride=64)
    if "selection" in tasks:
        record["settings"].update(selection_steps=args.selection_steps, selection_lr=args.selection_lr,
                                  selection_batch_size=16, test_papers=args.test_papers)
    record["goals"] = goals
    if out.exists() and not args.quick and out.resolve() == (Path(__file__).parent / "results" / "qa.json").resolve():
        previous = json.loads(out.read_text())  # keep the rows of the task not run this time
        settings = {**previous.get("settings", {}), **record["settings"]}
        settings["tasks"] = sorted(set(previous.get("settings", {}).get("tasks", ["cloze"])) | set(tasks))
        record = {**previous, **record, "goals": {**previous.get("goals", {}), **goals}, "settings": settings}
    _common.write_results(out, record)
    return record


def cloze_benchmark(args, tokenizer, device) -> dict:
    questions = cloze_questions(n_articles=args.articles, seed=args.seed)
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
    print(f"\n{len(test)} test questions ({len(feats['test'])} windows)")
    print(f"{'':<34}{'exact match':>12}{'F1':>7}")
    print(f"{'most frequent entity of the type':<34}{baseline['exact_match']:>12.1f}{baseline['f1']:>7.1f}")
    print(f"{'MiniLM + span head':<34}{model_scores['exact_match']:>12.1f}{model_scores['f1']:>7.1f}")
    print(f"{'  the same, entity mentions only':<34}{entity_scores['exact_match']:>12.1f}{entity_scores['f1']:>7.1f}")
    return {"exact_match": model_scores["exact_match"], "f1": model_scores["f1"],
            "baseline": {"exact_match": baseline["exact_match"], "f1": baseline["f1"]},
            "entities_only": {"exact_match": entity_scores["exact_match"], "f1": entity_scores["f1"]},
            "questions": {name: len(qs) for name, qs in questions.items()},
            "windows": {name: len(f) for name, f in feats.items()}, "seconds": round(seconds, 1)}


def selection_benchmark(args, tokenizer, device) -> dict:
    papers = {split: aclsum_papers(split) for split in ("train", "validation", "test")}
    papers["test"] = papers["test"][:args.test_papers]
    pairs = {split: selection_pairs(p) for split, p in papers.items()}
    enc = {split: encode_pairs(tokenizer, p) for split, p in pairs.items() if split != "validation"}
    enc["validation"] = encode_pairs(tokenizer, pairs["validation"][:2000])  # the loop's validation loss only
    model = cross_encoder(seed=args.seed)
    start = time.perf_counter()
    fine_tune_selection(model, enc["train"], enc["validation"], steps=args.selection_steps, batch_size=16,
                        lr=args.selection_lr, seed=args.seed, device=device)
    seconds = time.perf_counter() - start
    test = pairs["test"]
    model_scores = ranking_scores(pair_scores(model, enc["test"]), test)
    fit_on = [p.text for p in pairs["train"]]
    baselines = {"lead": ranking_scores(lead_scores(test), test),
                 "tfidf": ranking_scores(tfidf_scores(test, fit_on=fit_on), test)}
    print(f"\n{len(papers['test'])} test papers x 3 aspects = {model_scores['rankings']} rankings of "
          f"{len(test)} sentences; MAP and precision at 3")
    print(f"{'':<26}{'MAP':>7}{'P@3':>7}   " + "  ".join(f"{a[:9]:>9}" for a in ASPECTS))
    for name, r in [("lead sentences", baselines["lead"]), ("TF-IDF similarity", baselines["tfidf"]),
                    ("MiniLM cross-encoder", model_scores)]:
        print(f"{name:<26}{r['map']:>7.3f}{r['p_at_3']:>7.3f}   "
              + "  ".join(f"{r['by_aspect'][a]['map']:>9.3f}" for a in ASPECTS))
    return {**model_scores, "baselines": baselines, "papers": {s: len(p) for s, p in papers.items()},
            "pairs": {s: len(p) for s, p in pairs.items()}, "seconds": round(seconds, 1)}


if __name__ == "__main__":
    main()
