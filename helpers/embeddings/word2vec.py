"""word2vec: skip-gram and CBOW with negative sampling, batched PyTorch with updates written by hand.

How it is made fast (the same ideas as the original C code, in tensors):

* the corpus becomes one flat array of word ids plus an array of document ids (``Vocab.encode``),
  so that windows never cross a document boundary;
* frequent words are subsampled, and windows are generated for a whole chunk of the corpus at
  once (``sampling.context_windows``); negatives come from a precomputed table;
* updates are written by hand: the sigmoid gradients for a batch of thousands of windows are
  computed at once and scattered into the two embedding tables with ``index_add_``, with a learning
  rate that decays linearly as in gensim. No autograd, no optimiser state.
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

from .. import validation as validate
from ..device import cpu_threads, get_device
from .sampling import _noise_table, _subsample, context_windows, keep_probabilities, noise_distribution
from .vocab import Vocab, _check_corpus, to_keyed_vectors


def _check_positive_int(name: str, value, low: int = 1, high: int | None = None) -> None:
    """Kept for callers from before ``helpers.validation`` (contextual.py)."""
    validate.integer(name, value, low, high)


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
    dim = validate.positive_int("dim", dim, 10_000)
    window = validate.positive_int("window", window, 100)
    negative = validate.positive_int("negative", negative, 100)
    min_count = validate.positive_int("min_count", min_count)
    sample = validate.non_negative("sample", sample)
    epochs = validate.positive_int("epochs", epochs)
    sg = validate.boolean("sg", sg)
    alpha = validate.positive("alpha (the learning rate)", alpha, optional=True)
    min_alpha = validate.non_negative("min_alpha", min_alpha)
    batch_size = validate.positive_int("batch_size", batch_size, optional=True)
    chunk_words = validate.positive_int("chunk_words", chunk_words)
    max_vocab = validate.positive_int("max_vocab", max_vocab, optional=True)
    workers = validate.positive_int("workers", workers, 256)
    seed = validate.non_negative_int("seed", seed)
    progress = validate.boolean("progress", progress)
    dev = get_device(device)
    validate.warn_or_refuse_one_word_documents("corpus", corpus)
    vocab = Vocab.from_corpus(corpus, min_count=min_count, max_size=max_vocab, min_size=negative + 2)
    alpha = (0.025 if sg else 0.05) if alpha is None else alpha
    batch_size = batch_size or (512 if dev.type == "cpu" else 8192)
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
    with cpu_threads(1 if dev.type == "cpu" else None), torch.no_grad():
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
                    if not math.isfinite(losses[-1]):
                        break
            if losses and not math.isfinite(losses[-1]):
                break
        if dev.type == "cuda":
            torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    if pool is not None:
        pool.shutdown()
    bar.close()
    validate.losses_ok(losses, f"epoch {epoch + 1} of {epochs}, after {done:,} kept words",
                       "Give longer documents (a list of lines or articles, each a list of words), or "
                       "a lower alpha if the loss diverged.")
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

