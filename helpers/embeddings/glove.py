"""GloVe: count co-occurrences, then fit ``w_i . w~_j + b_i + b~_j = log X_ij`` by weighted least
squares with AdaGrad (Pennington, Socher and Manning, 2014).

Co-occurrences within a window are weighted 1/distance into a sparse matrix; the fit's weighting
f(x) lets rare pairs count less; the vectors handed back are w + w~, as the paper does. The
AdaGrad step is written by hand and runs Hogwild on CPU threads, as GloVe's C code.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..device import cpu_threads, get_device
from .. import validation as validate
from .sampling import _id_arrays
from .vocab import Vocab, _check_corpus, to_keyed_vectors


def cooccurrence_matrix(ids: np.ndarray, docs: np.ndarray, vocab_size: int, window: int = 10,
                        distance_weighting: bool = True):
    """Sparse, symmetric co-occurrence counts X (V x V, scipy CSR, float64).

    X[i, j] adds 1/d each time word j occurs d <= ``window`` positions from word i in the same
    document (1 per co-occurrence when ``distance_weighting`` is False), as the GloVe paper does.
    """
    import scipy.sparse as sp

    ids, docs = _id_arrays(ids, docs)
    vocab_size = validate.positive_int("vocab_size", vocab_size)
    window = validate.positive_int("window", window, 100)
    distance_weighting = validate.boolean("distance_weighting", distance_weighting)
    if len(ids) and ids.max() >= vocab_size:
        raise validate.ArgumentValueError(f"ids holds the word id {ids.max()}, but vocab_size is {vocab_size}.")
    X = sp.csr_matrix((vocab_size, vocab_size), dtype=np.float64)
    for d in range(1, min(window, len(ids) - 1) + 1):
        same = docs[:-d] == docs[d:]  # (n-d,)
        rows, cols = ids[:-d][same], ids[d:][same]
        w = np.full(len(rows), 1.0 / d if distance_weighting else 1.0)
        X = X + sp.csr_matrix((w, (rows, cols)), shape=(vocab_size, vocab_size))
    return (X + X.T).tocsr()  # counts both directions: X is symmetric


def glove_weight(x: torch.Tensor, x_max: float = 100.0, alpha: float = 0.75) -> torch.Tensor:
    """GloVe's weighting f(x) = (x / x_max)^alpha below x_max, 1 above: rare pairs count less."""
    validate.tensor("x", x, dtype="float")
    x_max, alpha = validate.positive("x_max", x_max), validate.non_negative("alpha", alpha)
    return torch.clamp(x / x_max, max=1.0) ** alpha


def glove_loss(w_i, w_j, b_i, b_j, x, x_max: float = 100.0, alpha: float = 0.75) -> torch.Tensor:
    """Weighted least squares: mean over the batch of f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)^2.

    w_i, w_j: (B, D); b_i, b_j, x: (B,).
    """
    for name, t, ndim in (("w_i", w_i, 2), ("w_j", w_j, 2), ("b_i", b_i, 1), ("b_j", b_j, 1), ("x", x, 1)):
        validate.tensor(name, t, dtype="float", ndim=ndim)
    if w_i.shape != w_j.shape or not b_i.shape == b_j.shape == x.shape == w_i.shape[:1]:
        raise validate.ShapeError(f"w_i, w_j must be (B, D) and b_i, b_j, x (B,); got {tuple(w_i.shape)}, "
                                  f"{tuple(w_j.shape)}, {tuple(b_i.shape)}, {tuple(b_j.shape)}, {tuple(x.shape)}.")
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


def _check_cooccurrences(cooccurrences) -> None:
    """``(vocab, X)`` as an earlier ``train_glove`` counted them: X is a (V, V) scipy sparse matrix."""
    import scipy.sparse as sp

    if not (isinstance(cooccurrences, (tuple, list)) and len(cooccurrences) == 2):
        raise validate.ArgumentTypeError("cooccurrences must be a pair (vocab, X): a Vocab and its "
                                         "co-occurrence matrix from cooccurrence_matrix().")
    vocab, X = cooccurrences
    if not isinstance(vocab, Vocab) or not sp.issparse(X):
        raise validate.ArgumentTypeError(f"cooccurrences must be (Vocab, scipy sparse matrix); got "
                                         f"({type(vocab).__name__}, {type(X).__name__}).")
    if X.shape != (len(vocab), len(vocab)):
        raise validate.ShapeError(f"The co-occurrence matrix is {X.shape} but the vocabulary has "
                                  f"{len(vocab)} words.")


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
    _check_corpus(corpus)
    dim = validate.positive_int("dim", dim, 10_000)
    window = validate.positive_int("window", window, 100)
    min_count = validate.positive_int("min_count", min_count)
    epochs = validate.positive_int("epochs", epochs)
    x_max, alpha = validate.positive("x_max", x_max), validate.positive("alpha", alpha)
    lr = validate.positive("lr", lr)
    batch_size = validate.positive_int("batch_size", batch_size, optional=True)
    max_vocab = validate.positive_int("max_vocab", max_vocab, optional=True)
    workers = validate.positive_int("workers", workers, 256)
    seed = validate.non_negative_int("seed", seed)
    progress = validate.boolean("progress", progress)
    dev = get_device(device)
    if cooccurrences is not None:
        _check_cooccurrences(cooccurrences)
    validate.warn_or_refuse_one_word_documents("corpus", corpus)
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
        raise validate.ArgumentValueError("No two words co-occur within the window: the corpus is too small.")

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
    workers = workers if dev.type == "cpu" else 1
    pool = ThreadPoolExecutor(workers) if workers > 1 else None

    def run(slices, totals):
        for sl in slices:
            totals.append(_glove_step(Wx, Cx, sW, sC, rows[sl], cols[sl], log_x[sl], f_x[sl], lr,
                                      mask_w, mask_c))

    losses = []
    start = time.perf_counter()
    with cpu_threads(1 if dev.type == "cpu" else None), torch.no_grad():
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
            if not math.isfinite(losses[-1]):
                break
    if pool is not None:
        pool.shutdown()
    validate.losses_ok(losses, f"epoch {len(losses)} of {epochs}", "Lower lr, or raise x_max.")
    seconds = time.perf_counter() - start
    W, C = Wx[:, :dim].cpu(), Cx[:, :dim].cpu()
    config = dict(dim=dim, window=window, min_count=min_count, epochs=epochs, x_max=x_max,
                  alpha=alpha, lr=lr, batch_size=batch_size, device=str(dev), seed=seed)
    return GloVe(to_keyed_vectors(vocab.words, W + C), vocab, losses, seconds, count_seconds,
                 nnz, raw_tokens, config)
