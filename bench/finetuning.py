"""Benchmark: what pretraining buys, on the Rotten Tomatoes sentences (seeded 80/10/10 split).

Five ways, each with a fixed budget, side by side in one run:

    tfidf     TF-IDF of 1-2-grams + logistic regression (scikit-learn, C chosen on validation): the floor
    frozen    pretrained all-MiniLM-L6-v2, encoder frozen: its mean-pooled sentence vectors computed once,
              and a linear head on them trained to convergence (logistic regression, C chosen on
              validation), as in notebook 09
    full      the same encoder, every weight fine-tuned
    lora      the same encoder frozen, LoRA adapters (peft, rank 8) on attention's query/key/value/output
              and the two feed-forward layers of every block
    scratch   the same architecture from random initialisation, every weight trained
    distilled the fine-tuned full model (the teacher) distilled into a student 4x smaller: its first two
              layers and its token embeddings factorised to rank 48 (helpers.distillation.shrink), trained
              on the teacher's soft targets at temperature 2 (alpha 0.9); beside it ``hard_labels``, the same
              student trained on the labels only
    quantized the teacher with int8 weights in every Linear layer (dynamic quantisation)

Every fine-tuned way trains with batch 32, max length 64, batches grouped by length and trimmed
(``fine_tune(..., group_by_length=True)``), and keeps the epoch with the best validation accuracy.
Prints test accuracy, macro F1, trainable parameters, seconds and the gap to TF-IDF, checks the
course's targets, and writes bench/results/finetuning.json with, per way, ``accuracy``, ``f1``,
``trainable_params``, ``seconds``, ``vs_tfidf_points``.

    python bench/finetuning.py              # the whole split (about 15 minutes on 2 idle CPU cores)
    python bench/finetuning.py --quick      # 400 sentences and 4 steps per way, under 60 s (writes no file)
    python bench/finetuning.py --threads 1  # when other programs share the cores (OpenMP waits badly)
    python bench/finetuning.py --speed 20   # steps per second: padded, trimmed and length-grouped batches
    python bench/finetuning.py --ways full,distilled,quantized   # only the smaller-and-faster rows (about
                                            # 8 minutes), merged into the existing results file

``full``, ``distilled``, ``hard_labels`` and ``quantized`` also carry ``parameters``, ``megabytes`` (the
saved state dict) and ``ms_per_sentence`` (test split, batches of 32, CPU).
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
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_common.py
from _common import write_results  # noqa: E402

from helpers import data  # noqa: E402
from helpers.device import describe, get_device  # noqa: E402
from helpers.finetuning import (SequenceClassifier, add_lora, classification_metrics,  # noqa: E402
                                count_parameters, evaluate, fine_tune, sentence_vectors,
                                tuned_logistic_regression)

# Budgets per way: (epochs, learning rate). Batch 32, max length 64 throughout.
BUDGETS = {"full": (2, 5e-5), "lora": (3, 1e-3), "scratch": (3, 2e-4)}
QUICK_BUDGETS = {"full": (1, 5e-5), "lora": (1, 1e-3), "scratch": (1, 2e-4)}
STUDENT = {"n_layers": 2, "embedding_rank": 48, "temperature": 2.0, "alpha": 0.9, "epochs": 2, "lr": 2e-4}
LORA = {"r": 8, "alpha": 16, "target_modules": ["query", "key", "value", "attention.output.dense",
                                                "intermediate.dense", "output.dense"]}


def tfidf(splits) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer

    start = time.perf_counter()
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    features = {name: vec.fit_transform(part.texts) if name == "train" else vec.transform(part.texts)
                for name, part in splits.items()}  # fitted on train first: dicts keep the split order
    return probe(features, splits, start, trainable_params=lambda clf: clf.coef_.size + 1)


def frozen(splits, tokenizer) -> dict:
    from transformers import AutoModel

    start = time.perf_counter()
    encoder = AutoModel.from_pretrained(data.minilm_dir())
    vectors = {name: sentence_vectors(encoder, tokenizer, part.texts, max_length=64, progress=name).numpy()
               for name, part in splits.items()}  # (n, 384) each
    # the probe is the head of a SequenceClassifier on the frozen encoder (notebook 09 copies it in)
    head = count_parameters(SequenceClassifier(encoder, num_labels=2).head)[0]
    return probe(vectors, splits, start, trainable_params=lambda clf: head)


def probe(features: dict, splits, start: float, trainable_params) -> dict:
    """A logistic regression on fixed features, C chosen on validation; test metrics and cost."""
    clf = tuned_logistic_regression(features["train"], splits["train"].labels,
                                    features["validation"], splits["validation"].labels)
    m = classification_metrics(splits["test"].labels, clf.predict(features["test"]))
    return {"accuracy": m["accuracy"], "f1": m["f1"], "trainable_params": int(trainable_params(clf)),
            "seconds": time.perf_counter() - start, "C": clf.C}


def neural(way: str, splits, tokenizer, budgets, device, max_steps=None) -> dict:
    from transformers import AutoConfig, AutoModel

    torch.manual_seed(0)
    if way == "scratch":
        encoder = AutoModel.from_config(AutoConfig.from_pretrained(data.minilm_dir()))
    else:
        encoder = AutoModel.from_pretrained(data.minilm_dir())
    model = SequenceClassifier(encoder, num_labels=2)
    if way == "lora":
        add_lora(model, **LORA)
    epochs, lr = budgets[way]
    start = time.perf_counter()
    history = fine_tune(model, tokenizer, splits["train"], splits["validation"], epochs=epochs, lr=lr,
                        batch_size=32, max_length=64, max_steps=max_steps, device=device, seed=0,
                        group_by_length=True)
    m = evaluate(model, tokenizer, splits["test"])
    return {"accuracy": m["accuracy"], "f1": m["f1"], "trainable_params": count_parameters(model)[0],
            "seconds": time.perf_counter() - start, "best_epoch": history.best_epoch + 1,
            "val_accuracy": history.val_accuracy}, model


def smaller_and_faster(teacher, splits, tokenizer, device, quick: bool = False) -> dict:
    """The teacher's cost, a distilled student, the same student on hard labels, the int8 teacher."""
    from helpers.distillation import distil, footprint, ms_per_sentence, quantize, shrink
    from helpers.finetuning import predict, predict_logits
    from helpers.text_batches import encode

    enc = {name: encode(tokenizer, part.texts, part.labels, 2, 64, split=name) for name, part in splits.items()}
    test_labels = enc["test"].labels.numpy()

    def row(model, seconds=0.0):
        model = model.cpu().eval()
        m = classification_metrics(test_labels, predict(model, enc["test"], device="cpu"))
        return {"accuracy": m["accuracy"], "f1": m["f1"], **footprint(model), "ms_per_sentence": ms_per_sentence(model, enc["test"], repeats=2),
                "seconds": seconds}

    out = {"full": row(teacher)}
    soft = predict_logits(teacher.to(device), enc["train"], device=device).cpu()  # (n, 2), computed once
    config = dict(STUDENT, epochs=0.1 if quick else STUDENT["epochs"])
    for name, targets in [("distilled", soft), ("hard_labels", None)]:
        student = shrink(teacher.cpu(), config["n_layers"], config["embedding_rank"])
        start = time.perf_counter()
        distil(student, enc["train"], targets, enc["validation"], temperature=config["temperature"],
               alpha=config["alpha"], epochs=config["epochs"], lr=config["lr"], device=device)
        out[name] = row(student, time.perf_counter() - start)
    start = time.perf_counter()
    out["quantized"] = row(quantize(teacher), time.perf_counter() - start)
    return out


def speed(splits, tokenizer, device, steps: int = 20) -> dict:
    """Steps per second of full fine-tuning (batch 32, max length 64) with batches padded to the split's
    longest text (the loop before trimming), trimmed to their own longest, and grouped by length then
    trimmed. The same model, optimizer and the loop's own steps for each (``training.time_steps``); two
    warm-up steps are not timed."""
    import torch.nn.functional as F
    from transformers import AutoModel

    from helpers.batches import epoch_batches
    from helpers.text_batches import encode, length_batches, trim_batch
    from helpers.training import TrainConfig, time_steps

    tr = encode(tokenizer, splits["train"].texts, splits["train"].labels, 2, 64)
    lengths, out = tr.attention_mask.sum(1), {}
    cfg = TrainConfig(batch_size=32, learning_rate=5e-5, min_lr=5e-5, warmup_iters=0, grad_clip=0.0)
    for mode in ("padded", "trimmed", "grouped"):
        torch.manual_seed(0)
        model = SequenceClassifier(AutoModel.from_pretrained(data.minilm_dir()), 2).to(device).train()
        order = length_batches(lengths, 32, torch.Generator().manual_seed(0), group_by_length=mode == "grouped")

        def fetch(idx, trim=mode != "padded"):
            ids, mask = tr.input_ids[idx], tr.attention_mask[idx]
            return (*(trim_batch(ids, mask) if trim else (ids, mask)), tr.labels[idx])

        def step(net, batch):
            return F.cross_entropy(net(batch[0], batch[1]), batch[2]), {}

        cost = time_steps(model, epoch_batches(lambda g: list(order), fetch), cfg, n=steps, warmup=2,
                          step_fn=step, device=device, optimizer_for=lambda m: torch.optim.AdamW(m.parameters(), lr=5e-5))
        out[mode] = {"steps_per_s": round(1 / cost["wall_s"], 3), "cpu_s_per_step": round(cost["cpu_s"], 3),
                     "mean_batch_width": round(cost["tokens"] / 32, 1)}
        print(f"{mode:<8} {1 / cost['wall_s']:5.2f} steps/s, {cost['cpu_s']:5.2f} CPU-s per step, "
              f"batches {cost['tokens'] / 32:4.1f} tokens wide on average", flush=True)
    return out


def check_targets(results: dict) -> dict[str, bool]:
    """The course's targets for this benchmark (the full run; --quick is too small to meet them)."""
    acc = {way: r["accuracy"] for way, r in results.items()}
    targets = {}
    if "full" in acc:
        targets["full fine-tuning >= 0.82 test accuracy within 10 minutes"] = (
            acc["full"] >= 0.82 and results["full"]["seconds"] <= 600)
    if {"full", "lora"} <= set(acc):
        share = results["lora"]["trainable_params"] / results["full"]["trainable_params"]
        targets["LoRA within 2 points of full, < 5% of the parameters trainable"] = (
            acc["lora"] >= acc["full"] - 0.02 and share < 0.05)
    if {"full", "tfidf"} <= set(acc):
        targets["full beats TF-IDF by >= 3 points"] = acc["full"] - acc["tfidf"] >= 0.03
    if {"scratch", "frozen", "lora", "full"} <= set(acc):
        targets["scratch < frozen <= LoRA ~ full"] = (
            acc["scratch"] < acc["frozen"] <= acc["lora"] and abs(acc["lora"] - acc["full"]) <= 0.02)
    if {"full", "distilled", "hard_labels"} <= set(acc):
        targets["distilled student >= 4x smaller, within 3 points of the teacher, above hard labels"] = (
            results["full"]["parameters"] >= 4 * results["distilled"]["parameters"]
            and acc["distilled"] >= acc["full"] - 0.03 and acc["distilled"] > acc["hard_labels"])
    if {"full", "quantized"} <= set(acc):
        targets["int8 model within 1 point of full, and faster"] = (
            acc["quantized"] >= acc["full"] - 0.01
            and results["quantized"]["ms_per_sentence"] < results["full"]["ms_per_sentence"])
    return targets


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a small subset, under 60 s")
    ap.add_argument("--ways", default="tfidf,frozen,full,lora,scratch,distilled,quantized",
                    help="distilled and quantized need full (the teacher)")
    ap.add_argument("--speed", type=int, metavar="STEPS", default=0,
                    help="only time STEPS steps of full fine-tuning with padded, trimmed and length-grouped "
                         "batches, and print steps per second (writes nothing)")
    ap.add_argument("--out", default=None,
                    help="where to write the results (default: bench/results/finetuning.json; --quick writes "
                         "nothing unless given --out, so that it never replaces the full run's results)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: torch's choice); 1 is faster on a CPU busy with other work")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    device = get_device()
    splits = data.sentiment("rotten_tomatoes", seed=0, max_examples=400 if args.quick else None)
    tokenizer = AutoTokenizer.from_pretrained(data.minilm_dir())
    if args.speed:
        print(f"full fine-tuning of MiniLM, batch 32, max length 64, {args.speed} steps each; {describe(device)}")
        speed(splits, tokenizer, device, args.speed)
        return 0
    budgets = QUICK_BUDGETS if args.quick else BUDGETS
    results, models = {}, {}
    ways = args.ways.split(",")
    if {"distilled", "quantized"} & set(ways) and "full" not in ways:
        ap.error("distilled and quantized start from the fine-tuned full model: add full to --ways.")
    for way in ways:
        print(f"-- {way}", flush=True)
        if way in ("tfidf", "frozen"):
            results[way] = tfidf(splits) if way == "tfidf" else frozen(splits, tokenizer)
        elif way in ("full", "lora", "scratch"):
            results[way], models[way] = neural(way, splits, tokenizer, budgets, device,
                                               max_steps=4 if args.quick else None)
    if {"distilled", "quantized"} & set(ways):
        small = smaller_and_faster(models["full"], splits, tokenizer, device, args.quick)
        results["full"].update({k: v for k, v in small.pop("full").items() if k not in ("seconds", "accuracy", "f1")})
        for name, r in small.items():
            results[name] = dict(r, trainable_params=r["parameters"])

    floor = results.get("tfidf", {}).get("accuracy")
    for r in results.values():
        r["vs_tfidf_points"] = None if floor is None else round(100 * (r["accuracy"] - floor), 1)
    print(f"\nRotten Tomatoes, seeded 80/10/10 split: {len(splits['train'])} train, "
          f"{len(splits['test'])} test sentences; device {describe(device)}")
    print(f"{'way':<9} {'accuracy':>9} {'F1':>7} {'trainable':>12} {'seconds':>9}  vs TF-IDF")
    for way, r in results.items():
        gap = "" if r["vs_tfidf_points"] is None else f"{r['vs_tfidf_points']:+.1f} points"
        print(f"{way:<9} {r['accuracy']:>9.3f} {r['f1']:>7.3f} {r['trainable_params']:>12,} {r['seconds']:>9.1f}  {gap}")
    targets = {} if args.quick else check_targets(results)  # a quick run is far too small to meet them
    if "distilled" in results:
        print(f"\n{'model':<12} {'parameters':>11} {'MB on disk':>11} {'ms/sentence':>12} {'accuracy':>9}")
        for way in ("full", "distilled", "hard_labels", "quantized"):
            r = results[way]
            print(f"{way:<12} {r['parameters']:>11,} {r['megabytes']:>11.1f} {r['ms_per_sentence']:>12.2f} "
                  f"{r['accuracy']:>9.3f}")
    for name, ok in targets.items():
        print(f"target {'reached' if ok else 'NOT reached'}: {name}")
    if args.quick and args.out is None:
        return 0
    out = Path(args.out or Path(__file__).parent / "results" / "finetuning.json")
    meta = {"quick": args.quick, "device": describe(device), "python": platform.python_version(),
            "torch": torch.__version__, "train_examples": len(splits["train"]),
            "test_examples": len(splits["test"]), "budgets": budgets, "lora": LORA, "batch_size": 32,
            "max_length": 64, "group_by_length": True, "student": STUDENT,
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()]}
    record = {"meta": meta, **results, "targets": targets}
    if out.exists() and not args.quick and set(ways) != set(ap.get_default("ways").split(",")):
        previous = json.loads(out.read_text())  # a partial run: keep the other ways' rows
        record = {**previous, **results, "targets": {**previous.get("targets", {}), **targets},
                  "meta": {**previous.get("meta", {}), f"meta_{'_'.join(ways)}": meta}}
    write_results(out, record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
