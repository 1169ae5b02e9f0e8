"""An encoder-decoder transformer ("Attention is all you need"), in the course's own blocks.

    CharTokenizer       (helpers.seq2seq_data, re-exported) characters <-> ids, padded batches and masks
    Seq2SeqConfig       the sizes, one comment per key
    Seq2Seq             encoder: the course's pre-norm ``Block`` seeing the whole (padded) source;
                        decoder: ``DecoderBlock`` = causal self-attention (with a KV cache) ->
                        cross-attention over the encoder's output -> MLP; tied output head; and
                        optionally (on by default) a copy head, a pointer-generator (See et al. 2017):
                        one more attention over the source whose weights may be used as the output
                        distribution, mixed with the vocabulary's by a learned gate
    pairs_to_batches    (helpers.seq2seq_data, re-exported) (source, target) pairs as padded ids;
                        ``batch_sampler`` makes the ``get_batch(split, generator)`` of the one training loop
    seconds_per_step    what one training step costs, so a time budget can plan the schedule
    translate           greedy or beam search (``helpers.beam_search``) over batches of sentences
    cross_attention_map what a decoder layer's cross-attention (or the copy head) looked at, for a plot

Teacher forcing: the decoder reads ``<bos> y1 .. yn`` and is trained to predict ``y1 .. yn <eos>``,
the same targets shifted one place, in one pass. Masks: the source is padded on the right, so the
encoder's self-attention and the decoder's cross-attention get a padding mask over source keys;
the target is padded on the right too, where the causal mask already hides the pads from every
real token, and the pads' predictions carry no loss (``IGNORE_INDEX``).

Why characters: the task is mostly spelling (vnfold -> unfold, selfe -> self, Heauen -> heaven).
A character model copies any word it has never seen, letter by letter, and learns the letter rules
once for all words; a word or BPE vocabulary built on modern text would split or miss the Folio's
spellings. The price is longer sequences (a line is ~40 characters instead of ~10 words), which
attention over short lines easily affords.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import validation as validate
from .attention import attention, merge_heads, sinusoidal_positions, split_heads
from .beam_search import beam_search, check_beam, greedy_decode, map_tensors
from .pretraining import IGNORE_INDEX
from .seq2seq_data import SPECIALS, CharTokenizer, batch_sampler, pairs_to_batches  # noqa: F401 (re-exported)
from .transformer import MLP, Block, init_weights

# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


@dataclass
class Seq2SeqConfig:
    vocab_size: int = 100  # one vocabulary for both sides (the Folio and modern alphabets are the same)
    max_len: int = 128  # longest source and longest target, in ids with <bos>/<eos>
    n_enc_layer: int = 3  # encoder blocks
    n_dec_layer: int = 3  # decoder blocks
    n_head: int = 4  # attention heads; n_embd % n_head == 0
    n_embd: int = 128  # model width
    dropout: float = 0.1
    tie_embeddings: bool = True  # one table for source, target and output head; False: three tables
    shared_positions: bool = True  # one position table for both sides: "look at my own position" is easy
    label_smoothing: float = 0.0  # 0.1 spreads 10% of the target's probability over all tokens
    copy: bool = True  # a pointer-generator head: the output may also copy a source character (See et al. 2017)
    pad_id: int = 0

    def __post_init__(self):
        validate.config_fields(self, positive_ints=("vocab_size", "max_len", "n_enc_layer", "n_dec_layer", "n_head",
                                                    "n_embd"), non_negative_ints=("pad_id",),
                               probabilities=("dropout", "label_smoothing"),
                               booleans=("tie_embeddings", "shared_positions", "copy"))
        validate.multiple_of("Seq2SeqConfig.n_embd", self.n_embd, "n_head", self.n_head)


def _check_sizes(n_embd, n_head, dropout):
    n_embd, n_head = validate.positive_int("n_embd", n_embd), validate.positive_int("n_head", n_head)
    return validate.multiple_of("n_embd", n_embd, "n_head", n_head), n_head, validate.probability("dropout", dropout)


class CrossAttention(nn.Module):
    """Queries from the decoder, keys and values from the encoder's output (the "memory")."""

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0):
        super().__init__()
        n_embd, n_head, dropout = _check_sizes(n_embd, n_head, dropout)
        self.n_embd, self.n_head = n_embd, n_head
        self.c_q = nn.Linear(n_embd, n_embd)
        self.c_kv = nn.Linear(n_embd, 2 * n_embd)  # keys and values in one matmul
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.dropout = dropout

    def memory_kv(self, memory):
        """memory (batch, S, C) -> keys, values (batch, heads, S, head_dim): computed once per sentence."""
        k, v = self.c_kv(memory).split(self.n_embd, dim=2)
        return split_heads(k, self.n_head), split_heads(v, self.n_head)

    def forward(self, x, kv, src_mask, need_weights=False):
        """x (batch, T, C), src_mask bool (batch, 1, 1, S) -> (batch, T, C) [and weights (batch, heads, T, S)]."""
        q = split_heads(self.c_q(x), self.n_head)  # (batch, heads, T, head_dim)
        p = self.dropout if self.training else 0.0
        y = attention(q, kv[0], kv[1], mask=src_mask, dropout_p=p, return_weights=need_weights)
        y, w = y if need_weights else (y, None)
        y = self.c_proj(merge_heads(y))
        return (y, w) if need_weights else y


class CachedSelfAttention(nn.Module):
    """Causal self-attention that can run one new token at a time against a cache of past keys/values."""

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0):
        super().__init__()
        n_embd, n_head, dropout = _check_sizes(n_embd, n_head, dropout)
        self.n_embd, self.n_head = n_embd, n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)  # nanoGPT's names
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.dropout = dropout

    def forward(self, x, cache=None):
        """x (batch, T, C). cache None: causal over the T tokens. cache (k, v) of (batch, heads, t, D): x holds
        the next token(s), which see every cached one. Returns (y, (k, v)) with the cache grown by T."""
        q, k, v = (split_heads(t, self.n_head) for t in self.c_attn(x).split(self.n_embd, dim=2))
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)  # (batch, heads, t+T, D)
        p = self.dropout if self.training else 0.0
        causal = cache is None or x.shape[1] > 1
        if causal and cache is not None:  # several new tokens after a cache: mask aligned bottom-right
            T, S = q.shape[2], k.shape[2]
            mask = torch.ones(T, S, dtype=torch.bool, device=x.device).tril(S - T)
            y = attention(q, k, v, mask=mask, dropout_p=p)
        else:
            y = attention(q, k, v, is_causal=cache is None, dropout_p=p)
        return self.c_proj(merge_heads(y)), (k, v)


class DecoderBlock(nn.Module):
    """x + self_attn(ln_1 x) [causal]; x + cross_attn(ln_2 x, memory); x + mlp(ln_3 x). Pre-norm."""

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0):
        super().__init__()
        n_embd, n_head, dropout = _check_sizes(n_embd, n_head, dropout)
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CachedSelfAttention(n_embd, n_head, dropout)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.cross = CrossAttention(n_embd, n_head, dropout)
        self.ln_3 = nn.LayerNorm(n_embd)
        self.mlp = MLP(n_embd, 4 * n_embd, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, kv, src_mask, cache=None, need_weights=False):
        a, cache = self.attn(self.ln_1(x), cache)
        x = x + self.drop(a)
        c = self.cross(self.ln_2(x), kv, src_mask, need_weights)
        c, w = c if need_weights else (c, None)
        x = x + self.drop(c)
        x = x + self.mlp(self.ln_3(x))
        return x, cache, w


class Seq2Seq(nn.Module):
    """model(src, src_mask, tgt_in, tgt_out) -> (logits (batch, T, vocab), loss); see the module doc."""

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        if not isinstance(config, Seq2SeqConfig):
            raise validate.ArgumentTypeError(f"config must be a Seq2SeqConfig; got {type(config).__name__}.")
        c = self.config = config
        self.src_wte = nn.Embedding(c.vocab_size, c.n_embd)
        self.tgt_wte = self.src_wte if c.tie_embeddings else nn.Embedding(c.vocab_size, c.n_embd)
        # learned positions, one table for both sides: the output is mostly the input, a few places later
        # or earlier, so a target position finds its source position by matching its own position vector
        self.src_wpe = nn.Embedding(c.max_len, c.n_embd)
        self.tgt_wpe = self.src_wpe if c.shared_positions else nn.Embedding(c.max_len, c.n_embd)
        self.drop = nn.Dropout(c.dropout)
        self.encoder = nn.ModuleList([Block(c.n_embd, c.n_head, dropout=c.dropout) for _ in range(c.n_enc_layer)])
        self.ln_enc = nn.LayerNorm(c.n_embd)
        self.decoder = nn.ModuleList([DecoderBlock(c.n_embd, c.n_head, c.dropout) for _ in range(c.n_dec_layer)])
        self.ln_dec = nn.LayerNorm(c.n_embd)
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        if c.copy:  # one more attention over the source, whose weights are a distribution to copy from
            self.copy_q = nn.Linear(c.n_embd, c.n_embd)
            self.copy_gate = nn.Linear(c.n_embd, 1)  # p_gen: write from the vocabulary, or copy
        self.apply(init_weights)  # GPT-2's: normal(0, 0.02) weights, zero biases
        for table in {self.src_wpe, self.tgt_wpe}:  # start from the sinusoidal table, at the embeddings' scale:
            with torch.no_grad():  # nearby positions start alike, which helps find "the same place"
                table.weight.copy_(sinusoidal_positions(c.max_len, c.n_embd) * 0.02 * math.sqrt(2))
        if c.tie_embeddings:
            self.lm_head.weight = self.tgt_wte.weight  # the same table in and out

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _check_len(self, ids, side: str):
        if ids.dim() != 2:
            raise validate.ArgumentValueError(f"{side} must be (batch, tokens) ids, got shape {tuple(ids.shape)}.")
        if ids.shape[1] > self.config.max_len:
            raise validate.ArgumentValueError(f"{side} has {ids.shape[1]} tokens, more than the model's max_len "
                             f"{self.config.max_len}; crop it (CharTokenizer.batch(..., crop=True)) or build "
                             f"the model with a larger max_len.")

    def encode(self, src, src_mask) -> dict:
        """src (batch, S) ids, src_mask (batch, S) 0/1 -> what the decoder reads: the encoder's output
        ``memory`` (batch, S, C), the ``key_mask`` (batch, 1, 1, S), each layer's cross-attention keys and
        values ``kvs`` (computed once per sentence) and the source ids (for copying)."""
        self._check_len(src, "src")
        key_mask = src_mask.bool()[:, None, None, :]  # padded source keys are hidden from every query
        pos = torch.arange(src.shape[1], device=src.device)
        x = self.drop(self.src_wte(src) + self.src_wpe(pos))  # (batch, S, C)
        for block in self.encoder:
            x = block(x, mask=key_mask)
        memory = self.ln_enc(x)
        return {"memory": memory, "key_mask": key_mask, "src": src,
                "kvs": [blk.cross.memory_kv(memory) for blk in self.decoder]}

    def decode(self, tgt_in, enc: dict, caches=None, start: int = 0, need_weights=False):
        """tgt_in (batch, T) ids at positions start..start+T-1 -> logits (batch, T, vocab) (log-probabilities
        when copying), the new caches, and each layer's cross-attention weights when asked."""
        if tgt_in.dim() != 2:
            raise validate.ArgumentValueError(f"tgt_in must be (batch, tokens) ids, got shape {tuple(tgt_in.shape)}.")
        if start + tgt_in.shape[1] > self.config.max_len:
            raise validate.ArgumentValueError(f"the target reaches position {start + tgt_in.shape[1]}, past the model's max_len "
                             f"{self.config.max_len}: ask for fewer new tokens or build a larger max_len.")
        pos = torch.arange(start, start + tgt_in.shape[1], device=tgt_in.device)
        x = self.drop(self.tgt_wte(tgt_in) + self.tgt_wpe(pos))  # (batch, T, C)
        new_caches, weights = [], []
        for i, block in enumerate(self.decoder):
            x, cache, w = block(x, enc["kvs"][i], enc["key_mask"], None if caches is None else caches[i],
                                need_weights)
            new_caches.append(cache)
            weights.append(w)
        h = self.ln_dec(x)
        logits = self.lm_head(h)  # (batch, T, vocab)
        if self.config.copy:
            attn = self._copy_attention(h, enc)
            logits = self._mix_in_copying(h, logits, attn, enc["src"])
            weights.append(attn)  # the copy head's weights come last
        return (logits, new_caches, weights) if need_weights else (logits, new_caches)

    def _copy_attention(self, h, enc):
        """h (batch, T, C) -> weights (batch, T, S) over the real source characters."""
        scores = self.copy_q(h) @ enc["memory"].transpose(1, 2) / math.sqrt(h.shape[-1])  # (batch, T, S)
        scores = scores.masked_fill(~enc["key_mask"][:, 0], float("-inf"))  # never copy padding
        return scores.softmax(-1)

    def _mix_in_copying(self, h, logits, attn, src):
        """p = p_gen * softmax(logits) + (1 - p_gen) * (copy attention, summed per source character).

        Copying is most of this task: with this head the weight of attending to a source character goes
        straight to that character's probability, so the alignment gets a direct training signal.
        Returns log p (batch, T, vocab); softmax(log p) = p, so losses and decoding use it as logits.
        """
        src = src[:, None, :].expand(-1, h.shape[1], -1)  # (batch, T, S)
        p_copy = torch.zeros_like(logits).scatter_add_(-1, src, attn)  # (batch, T, vocab)
        p_gen = torch.sigmoid(self.copy_gate(h))  # (batch, T, 1)
        p = p_gen * logits.softmax(-1) + (1 - p_gen) * p_copy
        return torch.log(p.clamp_min(1e-9))

    def forward(self, src, src_mask, tgt_in, tgt_out=None):
        logits, _ = self.decode(tgt_in, self.encode(src, src_mask))  # (batch, T, vocab)
        if tgt_out is None:
            return logits
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt_out.reshape(-1),
                               ignore_index=IGNORE_INDEX, label_smoothing=self.config.label_smoothing)
        return logits, loss

    # ---- one token at a time, for greedy decoding and beam search --------------------------

    def start_state(self, src, src_mask, repeat: int = 1, use_cache: bool = True) -> dict:
        """The decoding state of a batch of sources, each row repeated ``repeat`` times (beam width)."""
        enc = self.encode(src, src_mask)
        if repeat > 1:
            enc = map_tensors(enc, lambda t: t.repeat_interleave(repeat, 0))
        n = src.shape[0] * repeat
        empty = enc["memory"].new_zeros(n, self.config.n_head, 0, self.config.n_embd // self.config.n_head)
        caches = [(empty, empty) for _ in self.decoder] if use_cache else None
        prefix = torch.empty(n, 0, dtype=torch.long, device=src.device)  # the no-cache way re-reads it all
        return {"enc": enc, "caches": caches, "prefix": prefix}

    def step(self, tokens, state):
        """tokens (rows,) -> logits (rows, vocab) of the next token; the state grows by one token."""
        prefix = torch.cat([state["prefix"], tokens[:, None]], dim=1)  # (rows, t)
        if state["caches"] is None:  # no cache: run the decoder over the whole prefix again
            logits, _ = self.decode(prefix, state["enc"])
            caches = None
        else:  # with the cache: only the new token goes through, its keys/values are appended
            logits, caches = self.decode(tokens[:, None], state["enc"], state["caches"], start=prefix.shape[1] - 1)
        return logits[:, -1], {**state, "caches": caches, "prefix": prefix}


# --------------------------------------------------------------------------------------------
# Timing the training loop, and translation
# --------------------------------------------------------------------------------------------


def seconds_per_step(model: nn.Module, get_batch, cfg, n: int = 20, warmup: int = 3, clock: str = "wall") -> float:
    """Seconds one training step takes (``training.time_steps``: the loop's own steps, on a copy of the
    model), so that a budget plans the schedule.

    clock "wall": on this machine as it is now; "cpu": this process's CPU seconds per thread, i.e. what the
    step would take on idle cores however busy the machine is now.
    """
    n, warmup = validate.positive_int("n", n), validate.non_negative_int("warmup", warmup)
    validate.one_of("clock", clock, ("wall", "cpu"))
    validate.callable_("get_batch", get_batch)
    from .training import time_steps

    cost = time_steps(model, get_batch, cfg, n=n, warmup=warmup)
    return cost["cpu_s"] / torch.get_num_threads() if clock == "cpu" else cost["wall_s"]


@torch.no_grad()
def translate(model: Seq2Seq, tok: CharTokenizer, sources: Sequence[str], beam_width: int = 1,
              length_penalty: float = 1.0, batch_size: int = 128, max_new_tokens: int | None = None,
              use_cache: bool = True, crop: bool = True, progress: bool = False) -> list[str]:
    """Translate each source: greedy when beam_width == 1, else beam search. Sources longer than the
    model's context are cropped with a warning (crop=True) or refused (crop=False)."""
    if not isinstance(tok, CharTokenizer):
        raise validate.ArgumentTypeError(f"tok must be a CharTokenizer; got {type(tok).__name__}.")
    batch_size = validate.positive_int("batch_size", batch_size)
    max_new_tokens = validate.positive_int("max_new_tokens", max_new_tokens, optional=True)
    use_cache, crop, progress = (validate.boolean(n, v) for n, v in (("use_cache", use_cache), ("crop", crop),
                                                                     ("progress", progress)))
    from tqdm.auto import tqdm

    check_beam(beam_width, length_penalty)
    if isinstance(sources, str):
        raise validate.ArgumentTypeError("sources must be a list of strings; wrap a single line in a list.")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out: list[str] = []
    starts = range(0, len(sources), batch_size)
    for i in tqdm(starts, desc=f"decoding (beam {beam_width})", disable=not progress):
        chunk = list(sources[i:i + batch_size])
        src, mask = tok.batch(chunk, model.config.max_len, crop=crop)
        src, mask = src.to(device), mask.to(device)
        # the output may be a little longer than the source (added punctuation), never past max_len
        limit = max_new_tokens or min(model.config.max_len - 1, int(src.shape[1] * 1.3) + 10)
        if beam_width == 1:
            state = model.start_state(src, mask, 1, use_cache)
            ids = greedy_decode(model.step, state, len(chunk), tok.bos_id, tok.eos_id, limit, device)
        else:
            state = model.start_state(src, mask, beam_width, use_cache)
            ids = beam_search(model.step, state, len(chunk), tok.bos_id, tok.eos_id, limit, beam_width,
                              length_penalty, device=device)
        out += [tok.decode(r) for r in ids]
    model.train(was_training)
    return out


@torch.no_grad()
def sequence_logprob(model: Seq2Seq, tok: CharTokenizer, sources: Sequence[str], targets: Sequence[str],
                     batch_size: int = 128) -> torch.Tensor:
    """The model's log-probability of each target given its source, summed over its characters and the
    closing <eos>: (n,). Set beside a decoder's output, the reference tells the two kinds of error apart:
    a reference the model scores *higher* than the output is a search error (a wider search could find
    it), one it scores lower is a model error (no search will pick it)."""
    if not isinstance(tok, CharTokenizer):
        raise validate.ArgumentTypeError(f"tok must be a CharTokenizer; got {type(tok).__name__}.")
    sources, targets = validate.list_of_str("sources", sources, min_len=0), validate.list_of_str("targets", targets, min_len=0)
    if len(sources) != len(targets):
        raise validate.ArgumentValueError(f"{len(sources)} sources but {len(targets)} targets: give one target per source.")
    batch_size = validate.positive_int("batch_size", batch_size)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(sources), batch_size):
        src, mask = tok.batch(sources[i:i + batch_size], model.config.max_len)
        tgt, tgt_mask = tok.batch(targets[i:i + batch_size], model.config.max_len, bos=True, eos=True)
        logp = model(src.to(device), mask.to(device), tgt[:, :-1].to(device)).log_softmax(-1)  # (n, T, vocab)
        picked = logp.gather(2, tgt[:, 1:, None].to(device))[..., 0]  # (n, T): each next character's
        out.append((picked * tgt_mask[:, 1:].to(device)).sum(1).cpu())  # padding counts for nothing
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0)


@torch.no_grad()
def cross_attention_map(model: Seq2Seq, tok: CharTokenizer, source: str, target: str, layer: int = -1):
    """Attention weights (target chars + <eos>, source chars + <eos>) while the model reads ``target``:
    a decoder layer's cross-attention averaged over heads (``layer``), or with ``layer="copy"`` the weights
    of the copy head (which source character each output character may copy)."""
    source, target = validate.string("source", source, non_empty=False), validate.string("target", target, non_empty=False)
    if layer != "copy":
        layer = validate.integer("layer", layer, -len(model.decoder), len(model.decoder) - 1)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    src, mask = (t.to(device) for t in tok.batch([source], model.config.max_len))
    tgt, _ = tok.batch([target], bos=True, eos=True)
    _, _, weights = model.decode(tgt[:, :-1].to(device), model.encode(src, mask), need_weights=True)
    model.train(was_training)
    if layer == "copy":
        if not model.config.copy:
            raise validate.ArgumentValueError("this model has no copy head (Seq2SeqConfig(copy=False)); pick a decoder layer.")
        return weights[-1][0].cpu()  # (T, S)
    cross = weights[:len(model.decoder)]
    return cross[layer][0].mean(0).cpu()  # (T, S)
