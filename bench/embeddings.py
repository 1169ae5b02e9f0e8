"""Benchmark: the course's skip-gram against gensim's, on the same corpus and settings; GloVe beside.

    python bench/embeddings.py            # IMDB (25,000 reviews, 5.55M words), 5 epochs
    python bench/embeddings.py --quick    # 3,000 reviews, 1 epoch: under a minute on 2 cores

Both skip-grams get the same dimension, window, negatives, min_count, subsampling, epochs and
thread count (gensim's ``workers`` = the course's ``workers``, torch kernels single-threaded).
Words per second = corpus tokens x epochs / training seconds, for every system alike (vocabulary
building is not timed; GloVe's time includes counting co-occurrences). Scores: Spearman correlation
on WordSim353 and SimLex-999, accuracy on the Google analogies restricted to the 30,000 most
frequent words (pairs or questions with an unknown word are skipped, and counted).
Writes bench/results/embeddings.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_common.py
from _common import write_results  # noqa: E402

import torch  # noqa: E402

from helpers import data, embeddings  # noqa: E402


def scores(kv, max_oov: float) -> dict:
    ev = embeddings.evaluate(kv, restrict_vocab=30_000, max_oov=max_oov)
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in ev.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3,000 reviews, 1 epoch (< 60 s)")
    ap.add_argument("--corpus", default="imdb")
    ap.add_argument("--docs", type=int, default=None, help="first N documents only")
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--negative", type=int, default=5)
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--sample", type=float, default=1e-3)
    ap.add_argument("--epochs", type=int, default=None, help="default 5 (1 with --quick)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--glove-epochs", type=int, default=None, help="default 10 (2 with --quick)")
    ap.add_argument("--glove-window", type=int, default=10)
    ap.add_argument("--glove-x-max", type=float, default=10.0,
                    help="GloVe's weighting cap (default 10, GloVe's demo setting; the paper's 100 is for billions of words)")
    ap.add_argument("--skip-glove", action="store_true")
    ap.add_argument("--device", default="cpu", help="the course's trainers' device (gensim: cpu)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "embeddings.json"))
    args = ap.parse_args(argv)
    docs_n = args.docs or (3_000 if args.quick else None)
    epochs = args.epochs or (1 if args.quick else 5)
    glove_epochs = args.glove_epochs or (2 if args.quick else 10)
    max_oov = 0.9 if args.quick or args.docs else 0.5  # a subset misses many evaluation words

    import gensim
    from gensim.models import Word2Vec as GensimWord2Vec

    docs = data.corpus(args.corpus, max_docs=docs_n)
    n_words = sum(map(len, docs))
    print(f"corpus {args.corpus}: {len(docs):,} documents, {n_words:,} words; dim {args.dim}, "
          f"window {args.window}, negative {args.negative}, min_count {args.min_count}, "
          f"sample {args.sample}, epochs {epochs}, workers {args.workers}")
    results: dict = {}

    # gensim first: it builds its vocabulary untimed, then trains.
    g = GensimWord2Vec(vector_size=args.dim, window=args.window, negative=args.negative,
                       min_count=args.min_count, sample=args.sample, workers=args.workers, sg=1,
                       seed=0)
    g.build_vocab(docs)
    t = time.perf_counter()
    g.train(docs, total_examples=len(docs), epochs=epochs)
    secs = time.perf_counter() - t
    results["gensim_sgns"] = {"words_per_s": round(n_words * epochs / secs), "seconds": round(secs, 2),
                              **scores(g.wv, max_oov)}
    print("gensim_sgns", results["gensim_sgns"], flush=True)

    m = embeddings.train_word2vec(docs, dim=args.dim, window=args.window, negative=args.negative,
                                  min_count=args.min_count, sample=args.sample, epochs=epochs,
                                  workers=args.workers, device=args.device, seed=0, progress=False)
    results["helpers_sgns"] = {"words_per_s": round(m.words_per_s), "seconds": round(m.seconds, 2),
                               **scores(m.wv, max_oov)}
    print("helpers_sgns", results["helpers_sgns"], flush=True)

    if not args.skip_glove:
        gl = embeddings.train_glove(docs, dim=args.dim, window=args.glove_window, x_max=args.glove_x_max,
                                    min_count=args.min_count, epochs=glove_epochs,
                                    workers=args.workers, device=args.device, seed=0, progress=False)
        secs = gl.seconds + gl.count_seconds
        results["helpers_glove"] = {"words_per_s": round(n_words / secs), "seconds": round(secs, 2),
                                    "epochs": glove_epochs, **scores(gl.wv, max_oov)}

    cols = ["words_per_s", "seconds", "wordsim353", "simlex999", "analogy"]
    print(f"\n{'system':<15}" + "".join(f"{c:>13}" for c in cols))
    for name, row in results.items():
        print(f"{name:<15}" + "".join(
            f"{row[c]:>13,}" if c == "words_per_s" else f"{row[c]:>13.3f}" for c in cols))
    skipped = results["helpers_sgns"]
    print(f"\nskipped (unknown words): WordSim353 {skipped['wordsim353_skipped']}/"
          f"{skipped['wordsim353_total']}, SimLex-999 {skipped['simlex999_skipped']}/"
          f"{skipped['simlex999_total']}, analogies {skipped['analogy_skipped']}/"
          f"{skipped['analogy_total']} (course's skip-gram vocabulary)")
    print("GloVe's words/s: corpus words / (counting + training seconds), over all its epochs.")

    out = {
        "settings": {"corpus": args.corpus, "documents": len(docs), "words": n_words,
                     "dim": args.dim, "window": args.window, "negative": args.negative,
                     "min_count": args.min_count, "sample": args.sample, "epochs": epochs,
                     "workers": args.workers, "glove_epochs": glove_epochs,
                     "glove_window": args.glove_window, "glove_x_max": args.glove_x_max, "quick": args.quick, "device": args.device},
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "gensim": gensim.__version__, "cpus": os.cpu_count(),
                    "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        **results,
    }
    write_results(args.out, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
