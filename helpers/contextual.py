"""Contextual word vectors from an ELMo-style bidirectional LSTM language model.

Two language models read the text: a forward LSTM predicts each next word from the words before
it, a backward LSTM predicts each previous word from the words after it. They share the word
embedding table (layer 0, a static vector per word) and the output layer. A word's *contextual*
vector at position t joins the forward state after reading up to t with the backward state after
reading back to t, so the same word gets a different vector in each sentence (Peters et al., 2018).

    model, vocab, history = train_bilm(data.corpus("imdb"), epochs=1)
    vecs = embed_sentence(model, vocab, "i sat on the bank of the river".split())  # (8, 2H)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import nn

from . import validation as validate
from .batches import epoch_batches
from .device import get_device
from .embeddings import Vocab, _check_corpus, _check_positive_int, check_word
from .training import TrainConfig
from .training import train as train_loop

UNK = "<unk>"
IGNORE = -100  # the target value cross-entropy skips


def lm_targets(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets of the two language models for a batch of token ids (B, T).

    forward[t] = ids[t + 1] (the next word), backward[t] = ids[t - 1] (the previous word); the
    positions with nothing to predict hold -100, which ``cross_entropy`` ignores.
    """
    validate.tensor("ids", ids, dtype="integer", ndim=2)  # (batch, words)
    fwd = torch.full_like(ids, IGNORE)
    bwd = torch.full_like(ids, IGNORE)
    fwd[:, :-1] = ids[:, 1:]
    bwd[:, 1:] = ids[:, :-1]
    return fwd, bwd


@dataclass
class BiLMConfig:
    vocab_size: int  # words kept + 1 for <unk> (id 0)
    emb_dim: int = 128  # size of the static word vectors (layer 0)
    hidden: int = 256  # LSTM state size, per direction
    proj: int = 128  # the states are projected to this size before the output layer (as ELMo)
    dropout: float = 0.1
    cutoffs: list[int] = field(default_factory=list)  # adaptive softmax clusters (by frequency)

    def __post_init__(self):
        validate.config_fields(self, positive_ints=("emb_dim", "hidden", "proj"), probabilities=("dropout",))
        self.vocab_size = validate.integer("BiLMConfig.vocab_size", self.vocab_size, low=2)  # <unk> and a word
        self.cutoffs = [validate.positive_int("BiLMConfig.cutoffs[i]", c) for c in self.cutoffs]


class BiLM(nn.Module):
    """Forward and backward LSTM language models over shared word embeddings and output layer."""

    def __init__(self, cfg: BiLMConfig):
        super().__init__()
        if not isinstance(cfg, BiLMConfig):
            raise validate.ArgumentTypeError(f"cfg must be a BiLMConfig; got {type(cfg).__name__}.")
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.emb_dim)
        self.fwd = nn.LSTM(cfg.emb_dim, cfg.hidden, batch_first=True)
        self.bwd = nn.LSTM(cfg.emb_dim, cfg.hidden, batch_first=True)
        self.proj = nn.Linear(cfg.hidden, cfg.proj)
        self.drop = nn.Dropout(cfg.dropout)
        cutoffs = [c for c in cfg.cutoffs if 0 < c < cfg.vocab_size - 1]
        # Adaptive softmax: frequent words get a full-size output, rare ones a cheaper one.
        self.out = nn.AdaptiveLogSoftmaxWithLoss(cfg.proj, cfg.vocab_size, cutoffs or [cfg.vocab_size // 2],
                                                 div_value=4.0)

    def states(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Layer 0 and the two directions' states: (B, T, E), (B, T, H), (B, T, H).

        forward[:, t] has read words 0..t; backward[:, t] has read words T-1 down to t.
        """
        x = self.embed(ids)  # (B, T, E)
        h_fwd, _ = self.fwd(self.drop(x))  # (B, T, H)
        h_bwd, _ = self.bwd(self.drop(x).flip(1))  # (B, T, H), reading right to left
        return x, h_fwd, h_bwd.flip(1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Mean of the forward and backward language-model losses (nats per word)."""
        _, h_fwd, h_bwd = self.states(ids)
        t_fwd, t_bwd = lm_targets(ids)
        losses = []
        for h, t in ((h_fwd, t_fwd), (h_bwd, t_bwd)):
            keep = t.reshape(-1) != IGNORE
            z = self.proj(self.drop(h)).reshape(-1, self.cfg.proj)[keep]  # (N, P)
            losses.append(self.out(z, t.reshape(-1)[keep]).loss)
        return (losses[0] + losses[1]) / 2


@dataclass
class BiLMResult:
    model: BiLM
    vocab: Vocab  # vocab.words[i] has id i + 1; id 0 is <unk>
    losses: list[float]  # training loss per logged step
    val_perplexity: float  # exp(mean loss) on held-out sequences
    seconds: float


def encode_words(vocab: Vocab, words: Sequence[str]) -> torch.Tensor:
    """Ids of ``words`` for the BiLM: a vocabulary word's id + 1, or 0 for <unk>."""
    if not isinstance(vocab, Vocab):
        raise validate.ArgumentTypeError(f"vocab must be a helpers.embeddings.Vocab; got {type(vocab).__name__}.")
    words = validate.list_of_str("words", words, min_len=0, hint="Split a sentence first: sentence.split().")
    return torch.tensor([vocab.index.get(w, -1) + 1 for w in words], dtype=torch.long)


def train_bilm(
    corpus: Sequence[Sequence[str]],
    max_vocab: int = 10_000,
    min_count: int = 3,
    seq_len: int = 32,
    batch_size: int = 64,
    epochs: int = 1,
    max_steps: int | None = None,
    lr: float = 3e-3,
    emb_dim: int = 128,
    hidden: int = 256,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: bool = True,
) -> BiLMResult:
    """Train a BiLM on a tokenised corpus cut into sequences of ``seq_len`` words with the course's
    loop (``helpers.training.train``: Adam, clipped, warm-up then linear decay).

    Words outside the ``max_vocab`` most frequent become <unk>. 2% of the sequences are held out
    to measure perplexity.
    """
    _check_corpus(corpus)
    _check_positive_int("seq_len", seq_len, 2, 10_000)
    _check_positive_int("batch_size", batch_size, 1)
    _check_positive_int("epochs", epochs, 1)
    _check_positive_int("emb_dim", emb_dim, 1, 10_000)
    _check_positive_int("hidden", hidden, 1, 10_000)
    max_vocab, min_count = validate.positive_int("max_vocab", max_vocab), validate.positive_int("min_count", min_count)
    max_steps, lr = validate.positive_int("max_steps", max_steps, optional=True), validate.positive("lr", lr)
    seed, progress = validate.non_negative_int("seed", seed), validate.boolean("progress", progress)
    dev = torch.device(device) if device is not None else get_device()
    torch.manual_seed(seed)
    vocab = Vocab.from_corpus(corpus, min_count=min_count, max_size=max_vocab)
    stream = torch.cat([encode_words(vocab, doc) for doc in corpus])  # (N,) documents joined
    n_seq = len(stream) // seq_len
    if n_seq < 2:
        raise validate.ArgumentValueError(
            f"The corpus has {len(stream)} tokens: fewer than two sequences of {seq_len}.")
    seqs = stream[: n_seq * seq_len].view(n_seq, seq_len)  # (S, T)
    perm = torch.randperm(n_seq)
    n_val = max(1, n_seq // 50)
    val, train = seqs[perm[:n_val]], seqs[perm[n_val:]]

    V = len(vocab) + 1
    cutoffs = [c for c in (2_000, 6_000) if c < V - 1]
    model = BiLM(BiLMConfig(V, emb_dim, hidden, proj=min(hidden, 128), cutoffs=cutoffs)).to(dev)
    steps_per_epoch = math.ceil(len(train) / batch_size)
    total = steps_per_epoch * epochs if max_steps is None else min(max_steps, steps_per_epoch * epochs)
    # the course's one loop: Adam (AdamW without decay), 10% linear warm-up, then linear decay to 5%
    cfg = TrainConfig(max_iters=total, batch_size=batch_size, learning_rate=lr, min_lr=0.05 * lr,
                      warmup_iters=max(1, total // 10), decay="linear", weight_decay=0.0, beta2=0.999,
                      grad_clip=1.0, eval_interval=0, seed=seed)
    get_batch = epoch_batches(lambda g: torch.randperm(len(train), generator=g).split(batch_size),
                              lambda idx: (train[idx],))

    @torch.no_grad()
    def validation_loss(m):
        return {"val": float(np.mean([m(val[i:i + 256].to(dev)).item() for i in range(0, len(val), 256)]))}

    history = train_loop(model, get_batch, cfg, step_fn=lambda net, batch: (net(batch[0]), {}), device=dev,
                         progress=progress, evaluate=validation_loss, desc="biLM")
    if history["stopped_by"] == "interrupted":
        raise KeyboardInterrupt("the biLM's training was interrupted")
    model.eval()
    return BiLMResult(model, vocab, history["loss"], float(math.exp(history["val"][-1])), history["seconds"])


@torch.no_grad()
def embed_sentence(model: BiLM, vocab: Vocab, words: Sequence[str], layer: str = "context") -> torch.Tensor:
    """One vector per word of a sentence: (T, E) for ``layer="static"`` (the embedding table),
    (T, 2H) for ``"context"`` (forward and backward states joined)."""
    words = validate.list_of_str("words", words, hint="Give the sentence as a list of words, e.g. "
                                                      "'the river bank'.split().")  # not empty
    validate.one_of("layer", layer, ("static", "context"))
    if not isinstance(model, BiLM):
        raise validate.ArgumentTypeError(f"model must be a BiLM (train_bilm(...).model); got {type(model).__name__}.")
    model.eval()
    dev = next(model.parameters()).device
    ids = encode_words(vocab, [w.lower() for w in words]).unsqueeze(0).to(dev)  # (1, T)
    x, h_fwd, h_bwd = model.states(ids)
    if layer == "static":
        return x[0].cpu()
    if layer == "context":
        return torch.cat([h_fwd, h_bwd], dim=-1)[0].cpu()  # (T, 2H)
    raise validate.ArgumentValueError(f"layer must be 'static' or 'context', not {layer!r}.")


def word_in_context(model: BiLM, vocab: Vocab, sentence: str, word: str, layer: str = "context") -> torch.Tensor:
    """The vector of ``word`` (its first occurrence) in ``sentence``, a string of words."""
    sentence, word = validate.string("sentence", sentence), validate.string("word", word)
    validate.one_of("layer", layer, ("static", "context"))
    words = sentence.lower().split()
    if word not in words:
        raise validate.ArgumentValueError(f"word {word!r} does not occur in the sentence {sentence!r}.")
    check_word(word, vocab.index)
    return embed_sentence(model, vocab, words, layer)[words.index(word)]
