"""Static word embeddings: word2vec (skip-gram and CBOW with negative sampling) and GloVe.

Both trainers are batched PyTorch that runs on cuda, mps or cpu, show progress bars, and return
gensim ``KeyedVectors``, so trained vectors get ``most_similar``, analogies and
``evaluate_word_pairs`` as gensim users know them.

How word2vec is made fast here (the same ideas as the original C code, in tensors):

* the corpus becomes one flat array of word ids plus an array of document ids, so that windows
  never cross a document boundary;
* frequent words are subsampled with NumPy, and (center, context) pairs are generated for a whole
  chunk of the corpus at once, one window offset at a time, with word2vec's dynamic window
  (each position draws its own window size between 1 and ``window``);
* negatives come from a precomputed table in which each word fills a share proportional to
  count^0.75, so drawing one costs a random integer;
* updates are written by hand: the sigmoid gradients for a batch of thousands of pairs are
  computed at once and scattered into the two embedding tables with ``index_add_``, with a learning
  rate that decays linearly as in gensim. No autograd, no optimiser state.

GloVe counts co-occurrences within a window (weighted 1/distance) into a sparse matrix and fits
``w_i . w~_j + b_i + b~_j = log X_ij`` by weighted least squares with AdaGrad.

Typical use::

    from helpers import data, embeddings
    docs = data.corpus("imdb")
    model = embeddings.train_word2vec(docs, dim=100, window=5, epochs=5)
    model.wv.most_similar("movie")
    embeddings.evaluate(model.wv)
"""

from __future__ import annotations

import contextlib
import difflib
import math
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from . import data
from .device import get_device

__all__ = [
    "Vocab", "keep_probabilities", "noise_distribution", "skipgram_pairs",
    "context_windows", "sgns_loss", "Word2Vec", "train_word2vec", "cooccurrence_matrix", "glove_weight",
    "glove_loss", "GloVe", "train_glove", "to_keyed_vectors", "evaluate", "check_word",
    "neighbours", "analogy", "analogy_accuracy",
]


# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------


def _check_corpus(corpus) -> None:
    if isinstance(corpus, (str, bytes)):
        raise TypeError("Give a tokenised corpus: a list of documents, each a list of words "
                        "(for example helpers.data.corpus('imdb')), not a single string.")
    if corpus is None or len(corpus) == 0:
        raise ValueError("The corpus is empty: give at least one document (a list of words).")
    first = corpus[0]
    if isinstance(first, str):
        raise TypeError("Each document must be a list of words, not a string; tokenise first "
                        "with helpers.data.tokenize_documents(texts).")


@dataclass
class Vocab:
    """Words kept for training, most frequent first, with their corpus counts."""

    words: list[str]
    counts: np.ndarray  # (V,) int64, in the same order as words
    index: dict[str, int] = field(repr=False, default_factory=dict)

    def __post_init__(self):
        if not self.index:
            self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def from_corpus(cls, corpus: Sequence[Sequence[str]], min_count: int = 5,
                    max_size: int | None = None, min_size: int = 2) -> "Vocab":
        """Count words; keep those seen ``min_count`` times or more (at most ``max_size``)."""
        _check_corpus(corpus)
        if not isinstance(min_count, (int, np.integer)) or min_count < 1:
            raise ValueError(f"min_count must be a whole number >= 1; got {min_count!r}.")
        counter = Counter()
        for doc in corpus:
            counter.update(doc)
        if not counter:
            raise ValueError(f"The corpus has {len(corpus)} documents but no words in them.")
        kept = [(w, c) for w, c in counter.items() if c >= min_count]
        kept.sort(key=lambda wc: (-wc[1], wc[0]))  # most frequent first, ties alphabetical
        if max_size is not None:
            kept = kept[:max_size]
        if len(kept) < min_size:
            raise ValueError(
                f"Only {len(kept)} distinct words occur {min_count} times or more "
                f"({len(counter)} distinct words in all, {sum(counter.values())} tokens); at least "
                f"{min_size} are needed. Give a bigger corpus or lower min_count.")
        words = [w for w, _ in kept]
        return cls(words, np.array([c for _, c in kept], dtype=np.int64))

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def id(self, word: str) -> int:
        """The id of ``word``; a KeyError that suggests close matches when it is unknown."""
        check_word(word, self.index)
        return self.index[word]

    def encode(self, corpus: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """The corpus as flat arrays: word ids (out-of-vocabulary words dropped) and document ids.

        Returns ``(ids, docs)``, both (tokens_kept,) int32.
        """
        _check_corpus(corpus)
        ids, docs = [], []
        get = self.index.get
        for d, doc in enumerate(corpus):
            row = [i for i in map(get, doc) if i is not None]
            ids.append(np.asarray(row, dtype=np.int32))
            docs.append(np.full(len(row), d, dtype=np.int32))
        return np.concatenate(ids), np.concatenate(docs)


def check_word(word: str, vocabulary) -> None:
    """Raise a KeyError naming close matches when ``word`` is not in ``vocabulary``.

    ``vocabulary`` is anything with ``in`` and iteration over words: a dict, a Vocab's index, or a
    gensim ``KeyedVectors`` (its ``key_to_index``).
    """
    keys = getattr(vocabulary, "key_to_index", vocabulary)
    if word in keys:
        return
    close = difflib.get_close_matches(str(word).lower(), list(keys), n=5, cutoff=0.75)
    hint = f" Close matches: {', '.join(close)}." if close else ""
    low = " (the vocabulary is lower-case)" if str(word) != str(word).lower() else ""
    raise KeyError(f"{word!r} is not in the vocabulary of {len(keys):,} words{low}.{hint}")


# --------------------------------------------------------------------------------------------
# word2vec's two sampling tricks
# --------------------------------------------------------------------------------------------


def keep_probabilities(counts: np.ndarray, sample: float = 1e-3) -> np.ndarray:
    """Probability of keeping each occurrence of a word under frequent-word subsampling.

    word2vec's formula (as in the C code and gensim): with ``f`` a word's share of the corpus and
    ``t = sample``, keep with probability ``(sqrt(f / t) + 1) * t / f``, capped at 1. Words rarer
    than about ``t`` are always kept; "the" is kept only a few times in a hundred.
    ``sample=0`` turns subsampling off.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if sample < 0:
        raise ValueError(f"sample must be >= 0 (0 turns subsampling off); got {sample}.")
    if sample == 0:
        return np.ones_like(counts)
    f = counts / counts.sum()
    return np.minimum(1.0, (np.sqrt(f / sample) + 1) * sample / f)


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """The distribution negatives are drawn from: unigram counts raised to ``power``, normalised."""
    p = np.asarray(counts, dtype=np.float64) ** power
    return p / p.sum()


def _noise_table(counts: np.ndarray, power: float = 0.75, size: int = 1_000_000) -> np.ndarray:
    """A table in which word i fills a share p_i of the slots: a uniform slot is a noise word."""
    p = noise_distribution(counts, power)
    size = max(size, 100 * len(p))
    reps = np.round(p * size).astype(np.int64)
    reps[reps == 0] = 1
    return np.repeat(np.arange(len(p), dtype=np.int64), reps)


def _subsample(ids: np.ndarray, docs: np.ndarray, keep: np.ndarray, rng: np.random.Generator):
    mask = rng.random(len(ids)) < keep[ids]
    return ids[mask], docs[mask]


def skipgram_pairs(ids: np.ndarray, docs: np.ndarray, window: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Every (center, context) pair of a stretch of corpus, with word2vec's dynamic window.

    Each position draws its window size uniformly from 1..``window`` (so near words count more);
    pairs never cross a document boundary. Vectorised: one NumPy pass per offset.
    Returns ``(centers, contexts)``, each (pairs,) int64.
    """
    n = len(ids)
    win = rng.integers(1, window + 1, size=n)  # (n,) this position's reduced window
    centers, contexts = [], []
    for d in range(1, min(window, n - 1) + 1):
        same = docs[:-d] == docs[d:]  # (n-d,) the pair (i, i+d) lies in one document
        right = same & (win[:-d] >= d)  # center i, context i+d
        left = same & (win[d:] >= d)  # center i+d, context i
        centers += [ids[:-d][right], ids[d:][left]]
        contexts += [ids[d:][right], ids[:-d][left]]
    if not centers:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(centers).astype(np.int64), np.concatenate(contexts).astype(np.int64)


def context_windows(ids: np.ndarray, docs: np.ndarray, window: int, rng: np.random.Generator,
                 pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Each center word with its context words, padded to 2 * ``window`` columns (a window a row).

    Returns ``(centers, contexts)``: (n,) and (n, 2*window) int64, ``pad`` where no context word
    is (outside the reduced window, or across a document boundary). Centers with no context at
    all are dropped.
    """
    n = len(ids)
    win = rng.integers(1, window + 1, size=n)
    ctx = np.full((n, 2 * window), pad, dtype=np.int64)  # (n, 2W)
    pos = np.arange(n)
    for k, d in enumerate([d for d in range(-window, window + 1) if d != 0]):
        j = pos + d
        ok = (j >= 0) & (j < n) & (abs(d) <= win)
        jj = np.clip(j, 0, n - 1)
        ok &= docs[jj] == docs
        ctx[ok, k] = ids[jj[ok]]
    has = (ctx != pad).any(axis=1)
    return ids[has].astype(np.int64), ctx[has]


def sgns_loss(center: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
    """The skip-gram negative-sampling loss, averaged over a batch.

    center: (B, D) input vectors; context: (B, D) output vectors of the true context words;
    negatives: (B, K, D) output vectors of K noise words per pair.
    loss = -log sigma(c . o) - sum_k log sigma(-c . n_k)
    """
    pos = (center * context).sum(-1)  # (B,)
    neg = torch.bmm(negatives, center.unsqueeze(2)).squeeze(2)  # (B, K)
    return -(torch.nn.functional.logsigmoid(pos) + torch.nn.functional.logsigmoid(-neg).sum(-1)).mean()


# --------------------------------------------------------------------------------------------
# word2vec
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _threads(n: int | None):
    """Run torch with ``n`` CPU threads inside the block (None: leave as is)."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _check_positive_int(name: str, value, low: int = 1, high: int | None = None) -> None:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        rng = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be a whole number {rng}; got {value!r}.")


@dataclass
class Word2Vec:
    """A trained word2vec model: the vectors as gensim KeyedVectors, plus how training went."""

    wv: "KeyedVectors"  # noqa: F821  (gensim.models.KeyedVectors)
    vocab: Vocab
    input_vectors: torch.Tensor  # (V, D) the word vectors (word2vec's syn0), on the CPU
    output_vectors: torch.Tensor  # (V, D) the context / output vectors (syn1neg), on the CPU
    losses: list[float]  # mean loss per logged stretch of training
    seconds: float  # training time (pair generation and updates; not vocabulary building)
    raw_words: int  # corpus tokens x epochs (what words/s counts, as gensim does)
    config: dict

    @property
    def words_per_s(self) -> float:
        return self.raw_words / self.seconds

    def __repr__(self) -> str:
        return (f"Word2Vec({'skip-gram' if self.config['sg'] else 'CBOW'}, {len(self.vocab):,} words x "
                f"{self.config['dim']} dims, {self.seconds:.1f} s, {self.words_per_s:,.0f} words/s)")


def _stable_batch_size(counts, keep, window: int, negative: int, wanted: int, max_hits: float = 100) -> int:
    """The batch size (windows) at most ``wanted`` that keeps batched SGD stable.

    A batch sums the updates to each row. When one word would be updated more than about 100 times
    in a batch (a tiny vocabulary, or no subsampling), the summed step overshoots and training
    diverges; sequential SGD would have seen each update's effect before the next.
    """
    kept = counts * keep
    share = kept.max() / kept.sum()  # the most frequent word's share after subsampling
    hits_per_window = 2 * window * share + negative * noise_distribution(counts).max()
    return int(max(8, min(wanted, max_hits / hits_per_window)))


def train_word2vec(
    corpus: Sequence[Sequence[str]],
    dim: int = 100,
    window: int = 5,
    negative: int = 5,
    min_count: int = 5,
    sample: float = 1e-3,
    epochs: int = 5,
    sg: bool = True,
    alpha: float | None = None,
    min_alpha: float = 1e-4,
    batch_size: int | None = None,
    chunk_words: int = 200_000,
    max_vocab: int | None = None,
    workers: int = 2,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: bool = True,
) -> Word2Vec:
    """Train skip-gram (``sg=True``) or CBOW with negative sampling, with gensim's defaults.

    dim: vector size; window: largest distance between center and context; negative: noise
    words per prediction; min_count: rarer words are dropped; sample: subsampling threshold
    (0 = off); alpha: starting learning rate (0.025 for skip-gram, 0.05 for CBOW, as gensim),
    decaying linearly to ``min_alpha``; batch_size: windows (center words) per update (default
    512 on the CPU, 8192 on a GPU); workers: CPU threads updating the shared tables at once,
    without locks ("Hogwild", as gensim's ``workers``); device: cuda, mps or cpu (default: the
    course's device).

    Each window (a center word and its up to 2 * ``window`` context words) shares its
    ``negative`` noise words among its context words, as in Ji et al. (2016), "Parallelizing
    word2vec in shared and distributed memory": a window's updates become two small matrix
    products instead of many vector products, at the same accuracy.
    """
    _check_corpus(corpus)
    _check_positive_int("dim", dim, 1, 10_000)
    _check_positive_int("window", window, 1, 100)
    _check_positive_int("negative", negative, 1, 100)
    _check_positive_int("epochs", epochs, 1)
    _check_positive_int("workers", workers, 1, 256)
    vocab = Vocab.from_corpus(corpus, min_count=min_count, max_size=max_vocab, min_size=negative + 2)
    alpha = (0.025 if sg else 0.05) if alpha is None else alpha
    if not alpha > 0:
        raise ValueError(f"alpha (the learning rate) must be > 0; got {alpha}.")
    dev = torch.device(device) if device is not None else get_device()
    batch_size = batch_size or (512 if dev.type == "cpu" else 8192)
    _check_positive_int("batch_size", batch_size, 1)
    workers = workers if dev.type == "cpu" else 1  # a GPU runs one big batch at a time
    rng = np.random.default_rng(seed)
    gen = torch.Generator(device="cpu").manual_seed(seed)

    raw_tokens = sum(len(doc) for doc in corpus)
    ids, docs = vocab.encode(corpus)  # (N,) each
    keep = keep_probabilities(vocab.counts, sample)
    table = torch.from_numpy(_noise_table(vocab.counts)).to(dev)  # (T,) noise word ids
    V, D = len(vocab), dim
    batch_size = _stable_batch_size(vocab.counts, keep, window, negative, batch_size)

    # word2vec's initialisation: small random input vectors, zero output vectors.
    w_in = ((torch.rand(V + 1, D, generator=gen) - 0.5) / D).to(dev)  # (V+1, D); row V: padding
    w_in[V] = 0
    w_out = torch.zeros(V, D, device=dev)  # (V, D)
    step = _sg_step if sg else _cbow_step

    def run(batches, lrs, negs, losses_out):
        for (ctx, out), lr, neg, want in zip(batches, lrs, negs, losses_out):
            loss = step(w_in, w_out, ctx, out, neg, lr, pad=V, want_loss=want is not None)
            if want is not None:
                want.append(loss)

    total = len(ids) * epochs  # kept tokens to process, for the learning-rate schedule
    done, losses = 0, []
    bar = tqdm(total=raw_tokens * epochs, desc="skip-gram" if sg else "CBOW", unit="word",
               unit_scale=True, disable=not progress)
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    start = time.perf_counter()
    # CPU: each worker thread runs single-threaded kernels (small batches, no thread barriers).
    with _threads(1 if dev.type == "cpu" else None), torch.no_grad():
        for epoch in range(epochs):
            for lo in range(0, len(ids), chunk_words):
                chunk_ids, chunk_docs = ids[lo:lo + chunk_words], docs[lo:lo + chunk_words]
                sub_ids, sub_docs = _subsample(chunk_ids, chunk_docs, keep, rng)
                centers, ctx = context_windows(sub_ids, sub_docs, window, rng, pad=V)  # (n,), (n, 2W)
                order = rng.permutation(len(centers))
                ctx_t = torch.from_numpy(ctx[order]).to(dev)
                centers_t = torch.from_numpy(centers[order]).to(dev)
                n_batches = max(1, math.ceil(len(centers) / batch_size))
                negs = table[torch.randint(len(table), (len(centers), negative), generator=gen)
                             .to(dev)]  # (n, K)
                batches, lrs, negs_b, logs = [], [], [], []
                for b in range(n_batches):
                    sl = slice(b * batch_size, (b + 1) * batch_size)
                    if len(centers_t[sl]) == 0:
                        continue
                    batches.append((ctx_t[sl], centers_t[sl]))
                    lrs.append(alpha - (alpha - min_alpha) * (done + len(chunk_ids) * b / n_batches) / total)
                    negs_b.append(negs[sl])
                    logs.append([] if b % 25 == 0 else None)
                if pool is None:
                    run(batches, lrs, negs_b, logs)
                else:  # Hogwild: the workers take turns through the batches, updating shared tables
                    jobs = [pool.submit(run, batches[w::workers], lrs[w::workers], negs_b[w::workers],
                                        logs[w::workers]) for w in range(workers)]
                    for job in jobs:
                        job.result()
                done += len(chunk_ids)
                bar.update(round(len(chunk_ids) * raw_tokens / max(1, len(ids))))
                chunk_losses = [x for log in logs if log for x in log]
                if chunk_losses:
                    losses.append(float(np.mean(chunk_losses)))
                    bar.set_postfix(loss=f"{losses[-1]:.3f}", lr=f"{lrs[-1]:.4f}")
        if dev.type == "cuda":
            torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    if pool is not None:
        pool.shutdown()
    bar.close()
    vectors = w_in[:V].float().cpu()
    config = dict(dim=dim, window=window, negative=negative, min_count=min_count, sample=sample,
                  epochs=epochs, sg=sg, alpha=alpha, min_alpha=min_alpha, batch_size=batch_size,
                  workers=workers, device=str(dev), seed=seed)
    return Word2Vec(to_keyed_vectors(vocab.words, vectors), vocab, vectors, w_out.float().cpu(),
                    losses, seconds, raw_tokens * epochs, config)


def _scores_to_gradient(scores, mask, out, neg, lr):
    """lr * (label - sigma(score)): label 1 for the true word (column 0), 0 for the noise words.

    scores: (B, M, 1+K); mask: (B, M) which rows are real; out: (B,); neg: (B, K).
    """
    g = torch.sigmoid(scores).neg_()
    g[:, :, 0] += 1
    g.mul_(mask.unsqueeze(2) * lr)
    g[:, :, 1:] *= (neg != out.unsqueeze(1)).unsqueeze(1)  # a noise draw equal to the true word is skipped
    return g


def _loss(scores, mask) -> float:
    """Mean negative-sampling loss per (input, true word) prediction, for the progress bar."""
    ls = torch.nn.functional.logsigmoid
    per_row = -(ls(scores[:, :, 0]) + ls(-scores[:, :, 1:]).sum(-1))  # (B, M)
    return (per_row * mask).sum().item() / max(1.0, mask.sum().item())


def _sg_step(w_in, w_out, ctx, out, neg, lr: float, pad: int, want_loss: bool = False):
    """One hand-written SGD step of skip-gram on a batch of windows (updates in place).

    ctx: (B, 2W) context word ids, ``pad`` where empty; out: (B,) center words; neg: (B, K)
    noise words shared by the window. As in gensim, each context word's input vector predicts
    the center word (and not the noise words) through the output vectors.
    """
    B, W2 = ctx.shape
    D = w_in.shape[1]
    mask = (ctx != pad).to(w_in.dtype)  # (B, 2W)
    targets = torch.cat([out.unsqueeze(1), neg], dim=1)  # (B, 1+K)
    c = w_in.index_select(0, ctx.reshape(-1)).view(B, W2, D)  # (B, 2W, D) input vectors
    o = w_out.index_select(0, targets.reshape(-1)).view(B, -1, D)  # (B, 1+K, D) output vectors
    scores = torch.bmm(c, o.transpose(1, 2))  # (B, 2W, 1+K)
    loss = _loss(scores, mask) if want_loss else None
    g = _scores_to_gradient(scores, mask, out, neg, lr)  # (B, 2W, 1+K)
    grad_c = torch.bmm(g, o)  # (B, 2W, D)
    grad_o = torch.bmm(g.transpose(1, 2), c)  # (B, 1+K, D)
    w_in.index_add_(0, ctx.reshape(-1), grad_c.view(-1, D))  # padding rows get zeros
    w_out.index_add_(0, targets.reshape(-1), grad_o.view(-1, D))
    return loss


def _cbow_step(w_in, w_out, ctx, out, neg, lr: float, pad: int, want_loss: bool = False):
    """One hand-written SGD step of CBOW: the mean of the context vectors predicts the center.

    Shapes as in ``_sg_step``. As gensim with ``cbow_mean=1``, each context word receives the
    whole gradient of the mean.
    """
    B, W2 = ctx.shape
    D = w_in.shape[1]
    mask = (ctx != pad).to(w_in.dtype)  # (B, 2W)
    c = w_in.index_select(0, ctx.reshape(-1)).view(B, W2, D)  # (B, 2W, D)
    h = c.sum(1, keepdim=True) / mask.sum(1).view(B, 1, 1)  # (B, 1, D) padding rows are zero
    targets = torch.cat([out.unsqueeze(1), neg], dim=1)  # (B, 1+K)
    o = w_out.index_select(0, targets.reshape(-1)).view(B, -1, D)  # (B, 1+K, D)
    scores = torch.bmm(h, o.transpose(1, 2))  # (B, 1, 1+K)
    one = torch.ones(B, 1, dtype=w_in.dtype, device=w_in.device)
    loss = _loss(scores, one) if want_loss else None
    g = _scores_to_gradient(scores, one, out, neg, lr)  # (B, 1, 1+K)
    grad_h = torch.bmm(g, o)  # (B, 1, D)
    grad_o = torch.bmm(g.transpose(1, 2), h)  # (B, 1+K, D)
    w_in.index_add_(0, ctx.reshape(-1), (grad_h * mask.unsqueeze(2)).view(-1, D))
    w_out.index_add_(0, targets.reshape(-1), grad_o.view(-1, D))
    return loss



# --------------------------------------------------------------------------------------------
# GloVe
# --------------------------------------------------------------------------------------------


def cooccurrence_matrix(ids: np.ndarray, docs: np.ndarray, vocab_size: int, window: int = 10,
                        distance_weighting: bool = True):
    """Sparse, symmetric co-occurrence counts X (V x V, scipy CSR, float64).

    X[i, j] adds 1/d each time word j occurs d <= ``window`` positions from word i in the same
    document (1 per co-occurrence when ``distance_weighting`` is False), as the GloVe paper does.
    """
    import scipy.sparse as sp

    _check_positive_int("window", window, 1, 100)
    X = sp.csr_matrix((vocab_size, vocab_size), dtype=np.float64)
    for d in range(1, min(window, len(ids) - 1) + 1):
        same = docs[:-d] == docs[d:]  # (n-d,)
        rows, cols = ids[:-d][same], ids[d:][same]
        w = np.full(len(rows), 1.0 / d if distance_weighting else 1.0)
        X = X + sp.csr_matrix((w, (rows, cols)), shape=(vocab_size, vocab_size))
    return (X + X.T).tocsr()  # counts both directions: X is symmetric


def glove_weight(x: torch.Tensor, x_max: float = 100.0, alpha: float = 0.75) -> torch.Tensor:
    """GloVe's weighting f(x) = (x / x_max)^alpha below x_max, 1 above: rare pairs count less."""
    return torch.clamp(x / x_max, max=1.0) ** alpha


def glove_loss(w_i, w_j, b_i, b_j, x, x_max: float = 100.0, alpha: float = 0.75) -> torch.Tensor:
    """Weighted least squares: mean over the batch of f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)^2.

    w_i, w_j: (B, D); b_i, b_j, x: (B,).
    """
    err = (w_i * w_j).sum(-1) + b_i + b_j - torch.log(x)  # (B,)
    return (glove_weight(x, x_max, alpha) * err.square()).mean()


def _glove_step(W, C, sW, sC, i, j, log_x, f_x, lr: float, mask_w, mask_c) -> torch.Tensor:
    """One AdaGrad step on a batch of co-occurrences, written by hand. Returns the batch's summed
    weighted squared error (before the step).

    W = [w | b | 1] and C = [w~ | 1 | b~] are (V, D+2): their dot product is w_i . w~_j + b_i + b~_j,
    so one gather and one scatter per table serve vectors and biases alike. With
    e = f(X_ij) (W_i . C_j - log X_ij), the gradient is e C_j for W_i and e W_i for C_j (the factor 2
    folded into the learning rate, as GloVe's C code); the masks keep the constant columns at 1.
    i, j, log_x, f_x: (B,); sW, sC: AdaGrad's sums of squared gradients, shaped like W and C.
    """
    wi, cj = W[i], C[j]  # (B, D+2) each
    diff = (wi * cj).sum(-1) - log_x  # (B,)
    e = f_x * diff  # (B,)
    loss = (e * diff).sum()
    gw = e.unsqueeze(1) * cj * mask_w  # (B, D+2)
    gc = e.unsqueeze(1) * wi * mask_c  # (B, D+2)
    gw.mul_(lr)
    gc.mul_(lr)
    W.index_add_(0, i, gw.div(sW[i].sqrt_()), alpha=-1)
    C.index_add_(0, j, gc.div(sC[j].sqrt_()), alpha=-1)
    # As GloVe's C code, the sums collect the squares of lr * gradient: once they outgrow their
    # starting value 1, a step is gradient / sqrt(sum of squared gradients), whatever lr is.
    sW.index_add_(0, i, gw.square_())
    sC.index_add_(0, j, gc.square_())
    return loss


@dataclass
class GloVe:
    """A trained GloVe model: vectors (w + w~, as the paper) as KeyedVectors, and the loss curve."""

    wv: "KeyedVectors"  # noqa: F821
    vocab: Vocab
    losses: list[float]  # mean weighted squared error per epoch
    seconds: float  # training time (not counting the co-occurrence matrix)
    count_seconds: float  # time to build the co-occurrence matrix
    nonzeros: int
    raw_words: int
    config: dict

    @property
    def words_per_s(self) -> float:
        return self.raw_words / (self.seconds + self.count_seconds)

    def __repr__(self) -> str:
        return (f"GloVe({len(self.vocab):,} words x {self.config['dim']} dims, {self.nonzeros:,} "
                f"co-occurring pairs, {self.epochs} epochs, {self.seconds:.1f} s)")

    @property
    def epochs(self) -> int:
        return self.config["epochs"]


def train_glove(
    corpus: Sequence[Sequence[str]],
    dim: int = 100,
    window: int = 10,
    min_count: int = 5,
    epochs: int = 25,
    x_max: float = 10.0,  # GloVe's demo.sh value for corpora of millions of words (the paper: 100, for billions)
    alpha: float = 0.75,
    lr: float = 0.05,
    batch_size: int | None = None,
    max_vocab: int | None = None,
    workers: int = 2,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: bool = True,
    cooccurrences=None,
) -> GloVe:
    """Train GloVe: count co-occurrences, then fit them by weighted least squares with AdaGrad.

    Pass ``cooccurrences=(vocab, X)`` to reuse a matrix already counted.
    """
    import scipy.sparse as sp

    _check_corpus(corpus)
    _check_positive_int("dim", dim, 1, 10_000)
    _check_positive_int("epochs", epochs, 1)
    if not (x_max > 0 and alpha > 0 and lr > 0):
        raise ValueError(f"x_max, alpha and lr must be > 0; got {x_max}, {alpha}, {lr}.")
    dev = torch.device(device) if device is not None else get_device()
    raw_tokens = sum(len(doc) for doc in corpus)
    t0 = time.perf_counter()
    if cooccurrences is None:
        vocab = Vocab.from_corpus(corpus, min_count=min_count, max_size=max_vocab)
        ids, docs = vocab.encode(corpus)
        X = cooccurrence_matrix(ids, docs, len(vocab), window)
    else:
        vocab, X = cooccurrences
    count_seconds = time.perf_counter() - t0
    coo = X.tocoo()  # both (i, j) and (j, i): W and C are trained alike
    rows = torch.from_numpy(coo.row.astype(np.int64)).to(dev)  # (nnz,)
    cols = torch.from_numpy(coo.col.astype(np.int64)).to(dev)
    vals = torch.from_numpy(coo.data.astype(np.float32)).to(dev)
    V, nnz = len(vocab), len(vals)
    if nnz == 0:
        raise ValueError("No two words co-occur within the window: the corpus is too small.")

    gen = torch.Generator(device="cpu").manual_seed(seed)
    # Parameters: word vectors W, context vectors C, their biases; AdaGrad's squared-gradient sums
    # start at 1, as in GloVe's C code.
    W = ((torch.rand(V, dim, generator=gen) - 0.5) / dim).to(dev)  # (V, D) center vectors
    C = ((torch.rand(V, dim, generator=gen) - 0.5) / dim).to(dev)  # (V, D) context vectors
    ones, zeros = torch.ones(V, 1, device=dev), torch.zeros(V, 1, device=dev)
    Wx = torch.cat([W, zeros, ones], dim=1)  # (V, D+2): [w | b | 1], biases start at 0
    Cx = torch.cat([C, ones, zeros], dim=1)  # (V, D+2): [w~ | 1 | b~]
    mask_w = torch.ones(dim + 2, device=dev); mask_w[-1] = 0  # the constant column stays 1
    mask_c = torch.ones(dim + 2, device=dev); mask_c[-2] = 0
    sW, sC = torch.ones_like(Wx), torch.ones_like(Cx)  # AdaGrad's sums start at 1, as the C code
    log_x, f_x = torch.log(vals), glove_weight(vals, x_max, alpha)  # (nnz,) each, computed once
    batch_size = batch_size or (4096 if dev.type == "cpu" else 65536)
    workers = (workers or 1) if dev.type == "cpu" else 1
    pool = ThreadPoolExecutor(workers) if workers > 1 else None

    def run(slices, totals):
        for sl in slices:
            totals.append(_glove_step(Wx, Cx, sW, sC, rows[sl], cols[sl], log_x[sl], f_x[sl], lr,
                                      mask_w, mask_c))

    losses = []
    start = time.perf_counter()
    with _threads(1 if dev.type == "cpu" else None), torch.no_grad():
        for epoch in tqdm(range(epochs), desc="GloVe", unit="epoch", disable=not progress):
            order = torch.randperm(nnz, generator=gen).to(dev)
            slices = [order[lo:lo + batch_size] for lo in range(0, nnz, batch_size)]
            totals = [[] for _ in range(workers)]
            if pool is None:
                run(slices, totals[0])
            else:  # Hogwild, as GloVe's C code: threads update the shared tables without locks
                for job in [pool.submit(run, slices[w::workers], totals[w]) for w in range(workers)]:
                    job.result()
            losses.append(sum(t.item() for ts in totals for t in ts) / nnz)
    if pool is not None:
        pool.shutdown()
    seconds = time.perf_counter() - start
    W, C = Wx[:, :dim].cpu(), Cx[:, :dim].cpu()
    config = dict(dim=dim, window=window, min_count=min_count, epochs=epochs, x_max=x_max,
                  alpha=alpha, lr=lr, batch_size=batch_size, device=str(dev), seed=seed)
    return GloVe(to_keyed_vectors(vocab.words, W + C), vocab, losses, seconds, count_seconds,
                 nnz, raw_tokens, config)


# --------------------------------------------------------------------------------------------
# gensim interop and evaluation
# --------------------------------------------------------------------------------------------


def to_keyed_vectors(words: Sequence[str], vectors) -> "KeyedVectors":  # noqa: F821
    """gensim ``KeyedVectors`` holding ``vectors`` (V, D) for ``words`` (keep frequency order)."""
    from gensim.models import KeyedVectors

    vectors = torch.as_tensor(vectors).detach().float().cpu().numpy()
    if vectors.ndim != 2 or len(words) != len(vectors):
        raise ValueError(f"Need one vector per word: {len(words)} words, vectors of shape "
                         f"{tuple(vectors.shape)}.")
    kv = KeyedVectors(vector_size=vectors.shape[1])
    kv.add_vectors(list(words), vectors)
    kv.fill_norms()
    kv.norms[kv.norms == 0] = 1.0
    return kv


def neighbours(kv, word: str, topn: int = 10) -> list[tuple[str, float]]:
    """``kv.most_similar(word)``, with close matches suggested when the word is unknown."""
    check_word(word, kv)
    return kv.most_similar(word, topn=topn)


def analogy(kv, a: str, b: str, c: str, topn: int = 5) -> list[tuple[str, float]]:
    """a is to b as c is to ?: the words nearest b - a + c (3CosAdd, as gensim)."""
    for w in (a, b, c):
        check_word(w, kv)
    return kv.most_similar(positive=[b, c], negative=[a], topn=topn)


def _pairs_coverage(kv, name: str) -> tuple[int, int]:
    pairs = data.word_pairs(name)
    known = sum(1 for a, b, _ in pairs if a in kv.key_to_index and b in kv.key_to_index)
    return known, len(pairs)


def analogy_accuracy(kv, questions=None, restrict_vocab: int = 30_000, batch: int = 2048) -> float:
    """Share of analogy questions (a, b, c, d) for which d is the word nearest b - a + c.

    The same rule as gensim's ``evaluate_word_analogies`` (cosine on unit vectors, a, b and c
    excluded, only the ``restrict_vocab`` most frequent words, questions with another word
    skipped), batched into matrix products: seconds instead of minutes.
    """
    questions = data.analogies() if questions is None else questions
    n = min(restrict_vocab, len(kv))
    index = {w: i for i, w in enumerate(kv.index_to_key[:n])}
    rows = [[index[w] for w in q[1:]] for q in questions if all(w in index for w in q[1:])]
    if not rows:
        return float("nan")
    q = torch.tensor(rows)  # (Q, 4) ids of a, b, c, d
    unit = torch.from_numpy(kv.get_normed_vectors()[:n]).float()  # (n, D)
    correct = 0
    for lo in range(0, len(q), batch):
        a, b, c, d = q[lo:lo + batch].T  # (Qb,) each
        target = unit[b] - unit[a] + unit[c]  # (Qb, D)
        sims = target @ unit.T  # (Qb, n)
        sims.scatter_(1, torch.stack([a, b, c], 1), float("-inf"))  # the question's words cannot answer
        correct += (sims.argmax(1) == d).sum().item()
    return correct / len(q)


def evaluate(kv, restrict_vocab: int = 30_000, max_oov: float = 0.5, sets: Iterable[str] = (
        "wordsim353", "simlex999", "analogy")) -> dict:
    """Score vectors on WordSim353, SimLex-999 (Spearman) and the Google analogies (accuracy).

    Pairs and questions with a word outside the vocabulary are skipped, and the result says how
    many: ``{"wordsim353": 0.34, "wordsim353_skipped": 12, "wordsim353_total": 353, ...}``.
    Analogies use the ``restrict_vocab`` most frequent words (gensim's convention). When more than
    ``max_oov`` of a set is skipped, a ValueError says so: a score on a few pairs means little.
    """
    import logging

    out = {}
    gensim_log = logging.getLogger("gensim.models.keyedvectors")
    level = gensim_log.level
    gensim_log.setLevel(logging.ERROR)  # gensim logs every section; we report the totals
    try:
        for name in sets:
            if name in ("wordsim353", "simlex999"):
                known, n = _pairs_coverage(kv, name)
                skipped = n - known
                if known < 3 or skipped / n > max_oov:
                    raise ValueError(
                        f"{name}: {skipped} of {n} pairs have a word outside the vocabulary "
                        f"({len(kv):,} words); only {known} could be scored. Train on a bigger "
                        f"corpus (e.g. data.corpus('imdb')) or pass a higher max_oov.")
                score = kv.evaluate_word_pairs(str(data.asset_path(name)), restrict_vocab=len(kv))
                out[name] = float(score[1].statistic if hasattr(score[1], "statistic") else score[1][0])
            elif name == "analogy":
                questions = data.analogies()
                allowed = set(kv.index_to_key[:restrict_vocab])
                known = sum(1 for _, a, b, c, d in questions if {a, b, c, d} <= allowed)
                n, skipped = len(questions), len(questions) - known
                if known == 0 or skipped / n > max_oov:
                    raise ValueError(
                        f"analogy: {skipped} of {n} questions have a word outside the "
                        f"{min(restrict_vocab, len(kv)):,} most frequent words; only {known} could "
                        f"be scored. Train on a bigger corpus or pass a higher max_oov.")
                out[name] = analogy_accuracy(kv, questions, restrict_vocab)
            else:
                raise ValueError(f"Unknown evaluation set {name!r}; choose from wordsim353, "
                                 f"simlex999, analogy.")
            out[f"{name}_skipped"], out[f"{name}_total"] = skipped, n
    finally:
        gensim_log.setLevel(level)
    return out
