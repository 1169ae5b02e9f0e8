"""Benchmark: what pretraining buys, on the Rotten Tomatoes sentences (seeded 80/10/10 split).

Five ways, each with a fixed budget, side by side in one run:

    tfidf     TF-IDF of 1-2-grams + logistic regression (scikit-learn): the classical floor
    frozen    pretrained all-MiniLM-L6-v2, encoder frozen, a linear head trained on mean-pooled tokens
    full      the same encoder, every weight fine-tuned
    lora      the same encoder frozen, LoRA adapters (peft) on attention's query/key/value/output
    scratch   the same architecture from random initialisation, every weight trained

Prints test accuracy, macro F1, trainable parameters and seconds, and writes
bench/results/finetuning.json with, per way, ``accuracy``, ``f1``, ``trainable_params``, ``seconds``.

    python bench/finetuning.py            # the whole split (about 15 minutes on 2 CPU cores)
    python bench/finetuning.py --quick    # 400 sentences and 4 steps per way, under 60 s
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from helpers import data  # noqa: E402
from helpers.device import describe, get_device  # noqa: E402
from helpers.finetuning import (SequenceClassifier, add_lora, count_parameters, evaluate,  # noqa: E402
                                fine_tune, freeze)

# Budgets per way: (epochs, learning rate). Batch 32, max length 64 throughout.
BUDGETS = {"frozen": (3, 1e-3), "full": (2, 5e-5), "lora": (3, 1e-3), "scratch": (3, 2e-4)}
QUICK_BUDGETS = {"frozen": (1, 1e-3), "full": (1, 5e-5), "lora": (1, 1e-3), "scratch": (1, 2e-4)}


def tfidf(splits) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from helpers.finetuning import classification_metrics

    start = time.perf_counter()
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    x_train = vec.fit_transform(splits["train"].texts)
    clf = LogisticRegression(C=4.0, max_iter=2000).fit(x_train, splits["train"].labels)
    pred = clf.predict(vec.transform(splits["test"].texts))
    m = classification_metrics(splits["test"].labels, pred)
    return {"accuracy": m["accuracy"], "f1": m["f1"], "trainable_params": int(clf.coef_.size + 1),
            "seconds": time.perf_counter() - start}


def neural(way: str, splits, tokenizer, budgets, device, max_steps=None) -> dict:
    from transformers import AutoConfig, AutoModel

    torch.manual_seed(0)
    if way == "scratch":
        encoder = AutoModel.from_config(AutoConfig.from_pretrained(data.minilm_dir()))
    else:
        encoder = AutoModel.from_pretrained(data.minilm_dir())
    model = SequenceClassifier(encoder, num_labels=2)
    if way == "frozen":
        freeze(model.encoder)
    elif way == "lora":
        add_lora(model, r=8, alpha=16)
    epochs, lr = budgets[way]
    start = time.perf_counter()
    history = fine_tune(model, tokenizer, splits["train"], splits["validation"], epochs=epochs, lr=lr,
                        batch_size=32, max_length=64, max_steps=max_steps, device=device, seed=0)
    m = evaluate(model, tokenizer, splits["test"])
    return {"accuracy": m["accuracy"], "f1": m["f1"], "trainable_params": count_parameters(model)[0],
            "seconds": time.perf_counter() - start, "best_epoch": history.best_epoch + 1,
            "val_accuracy": history.val_accuracy}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a small subset, under 60 s")
    ap.add_argument("--ways", default="tfidf,frozen,full,lora,scratch")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "finetuning.json"))
    args = ap.parse_args(argv)

    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    device = get_device()
    splits = data.sentiment("rotten_tomatoes", seed=0, max_examples=400 if args.quick else None)
    tokenizer = AutoTokenizer.from_pretrained(data.minilm_dir())
    budgets = QUICK_BUDGETS if args.quick else BUDGETS
    results = {}
    for way in args.ways.split(","):
        print(f"-- {way}", flush=True)
        results[way] = tfidf(splits) if way == "tfidf" else neural(
            way, splits, tokenizer, budgets, device, max_steps=4 if args.quick else None)

    print(f"\nRotten Tomatoes, seeded 80/10/10 split: {len(splits['train'])} train, "
          f"{len(splits['test'])} test sentences; device {describe(device)}")
    print(f"{'way':<9} {'accuracy':>9} {'F1':>7} {'trainable':>12} {'seconds':>9}")
    for way, r in results.items():
        print(f"{way:<9} {r['accuracy']:>9.3f} {r['f1']:>7.3f} {r['trainable_params']:>12,} {r['seconds']:>9.1f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"quick": args.quick, "device": describe(device), "python": platform.python_version(),
            "torch": torch.__version__, "train_examples": len(splits["train"]),
            "test_examples": len(splits["test"]), "budgets": budgets}
    out.write_text(json.dumps({"meta": meta, **results}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
