"""Generating text from a causal language model, and measuring it on held-out text.

    check_sampling          clear errors for temperature <= 0, top_k < 1, top_p outside (0, 1]
    top_k_filter            keep the k most likely tokens, the rest get -inf
    top_p_filter            keep the smallest set of tokens whose probability reaches p (nucleus)
    sample_next             one token per row: greedy, or temperature + top-k + top-p sampling
    KVCache                 keys and values of the positions seen so far, per layer, for generation
    generate                append new tokens to a prompt, one at a time: the course's one generate,
                            for the mini-GPT, the Llama-style decoder and transformers models alike
    total_nll, perplexity   negative log-likelihood of a token stream; perplexity per token, and per
                            character or word so that models with different tokenisers compare fairly

``model`` is anything that maps idx (batch, tokens) to logits (batch, tokens, vocab): the course's GPT,
or a Hugging Face causal LM (its output's ``.logits`` is used). A model whose forward takes a
``kv_cache`` argument (helpers.transformer.GPT, helpers.llama.Llama) generates with the cache:
the prompt goes through once (prefill), then each step feeds only the newest token.
"""

from __future__ import annotations

import inspect
import math
import warnings

import torch
import torch.nn.functional as F

from . import validation as validate


def check_sampling(temperature: float = 1.0, top_k: int | None = None,
                   top_p: float | None = None) -> tuple[float, int | None, float | None]:
    """The sampling parameters as Python numbers (NumPy ones are fine), or the course's error for a
    value out of range. -> (temperature, top_k, top_p)."""
    try:
        temperature = validate.positive("temperature", temperature)
    except validate.CourseError as err:
        raise type(err)(f"{err} For the single most likely token use greedy=True instead of temperature 0.") from None
    top_k = validate.positive_int("top_k", top_k, optional=True)  # None: no limit
    top_p = validate.real("top_p", top_p, low=0, high=1, low_open=True, optional=True)  # 1 keeps every token
    return temperature, top_k, top_p


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """logits (..., vocab) -> same shape, everything below the k-th largest set to -inf."""
    validate.tensor("logits", logits, dtype="float", min_ndim=1)
    k = min(validate.positive_int("k", k), logits.size(-1))
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1) the k-th largest
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering: keep the most likely tokens until their probabilities sum to at least p.

    The most likely token is always kept. logits (..., vocab) -> same shape with -inf elsewhere.
    """
    validate.tensor("logits", logits, dtype="float", min_ndim=1)
    p = validate.real("p", p, low=0, high=1, low_open=True)
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (..., vocab)
    cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    drop_sorted = (cum - sorted_logits.softmax(dim=-1)) >= p  # mass before this token already reached p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, greedy: bool = False,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """logits (batch, vocab) of the last position -> next token ids (batch, 1)."""
    validate.tensor("logits", logits, dtype="float", ndim=2)
    if validate.boolean("greedy", greedy):
        return logits.argmax(dim=-1, keepdim=True)
    temperature, top_k, top_p = check_sampling(temperature, top_k, top_p)
    logits = logits.float() / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = F.softmax(logits, dim=-1)  # (batch, vocab)
    if generator is not None and generator.device != probs.device:
        return torch.multinomial(probs.cpu(), 1, generator=generator).to(probs.device)
    return torch.multinomial(probs, 1, generator=generator)  # (batch, 1)


def _logits(model, idx):
    out = model(idx)
    return out.logits if hasattr(out, "logits") else (out[0] if isinstance(out, tuple) else out)


def _block_size(model, default: int = 1024) -> int:
    config = getattr(model, "config", None)
    return (getattr(config, "block_size", None) or getattr(config, "n_positions", None)
            or getattr(config, "max_position_embeddings", None) or default)


class KVCache:
    """The keys and values of every position processed so far, layer by layer.

    Generating token t+1 needs the keys and values of tokens 0..t, and those of 0..t-1 have not
    changed since the last step (a causal model never looks ahead), so each step computes them for
    the newest token only and reads the rest from here. Storage is allocated on the first update,
    with that tensor's batch, heads, width, dtype and device: (n_layer, B, n_kv_head, max_len, head_dim).

    A model's attention in layer i calls ``keys, values = cache.update(i, k, v)`` with the new
    positions' k, v (B, n_kv_head, T, head_dim) and attends over what comes back (B, n_kv_head,
    pos + T, head_dim), with ``cache.causal_mask(T)``; after its last layer it calls ``advance(T)``.
    """

    def __init__(self, n_layer: int, max_len: int, pad: torch.Tensor | None = None):
        n_layer, max_len = validate.positive_int("n_layer", n_layer), validate.positive_int("max_len", max_len)
        self.n_layer, self.max_len = n_layer, max_len
        self.pos = 0  # positions cached so far (the same in every layer after advance)
        self.k = self.v = None
        # left padding: row b's first pad[b] positions hold no token, and no query may attend to them
        self.pad = None if pad is None else validate.tensor("pad", pad, dtype="integer", ndim=1)  # (B,)
        self._pad_mask = None  # (pos, T, mask): every layer of a step asks for the same mask

    def __len__(self) -> int:
        return self.pos

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """Store k, v (B, Hkv, T, D) at positions pos..pos+T-1; return all (B, Hkv, pos + T, D)."""
        B, H, T, D = k.shape
        end = self.pos + T
        if end > self.max_len:
            raise validate.ArgumentValueError(
                f"the cache holds {self.max_len} positions; {self.pos} are used and {T} more "
                f"do not fit. Start a new cache (crop the context) first.")
        if self.k is None:
            self.k = torch.zeros(self.n_layer, B, H, self.max_len, D, dtype=k.dtype, device=k.device)
            self.v = torch.zeros_like(self.k)
        self.k[layer, :, :, self.pos:end] = k
        self.v[layer, :, :, self.pos:end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def causal_mask(self, T: int, device=None):
        """(attn_mask, is_causal) for scaled_dot_product_attention: T new queries, pos + T keys.
        With left padding, a boolean (B, 1, T, pos + T) mask that also hides each row's padding."""
        if self.pad is not None:
            if self._pad_mask is None or self._pad_mask[:2] != (self.pos, T):
                q_pos = self.pos + torch.arange(T, device=device)  # (T,) absolute positions of the queries
                k_pos = torch.arange(self.pos + T, device=device)  # (S,)
                allowed = (k_pos[None, None, :] <= q_pos[None, :, None]) & \
                    (k_pos[None, None, :] >= self.pad.to(device)[:, None, None])  # (B, T, S)
                allowed |= k_pos[None, None, :] == q_pos[None, :, None]  # a padding query sees itself: no empty row
                self._pad_mask = (self.pos, T, allowed[:, None])  # (B, 1, T, S): broadcast over the heads
            return self._pad_mask[2], False
        if self.pos == 0:
            return None, True  # prefill: the usual lower triangle
        if T == 1:
            return None, False  # the newest token may see every position before it, and itself
        q_pos = self.pos + torch.arange(T, device=device)  # absolute positions of the queries
        return torch.arange(self.pos + T, device=device)[None, :] <= q_pos[:, None], False  # (T, pos+T)

    def advance(self, T: int) -> None:
        """Called by the model after its last layer: the T new positions are now cached."""
        self.pos += T


def _takes_cache(model) -> bool:
    return "kv_cache" in inspect.signature(model.forward).parameters


def _left_padding(model, idx: torch.Tensor, attention_mask, max_new_tokens: int, block: int, use_cache: bool) -> torch.Tensor:
    """Each row's number of left-padding positions (batch,), after checking ``attention_mask``."""
    mask = validate.tensor("attention_mask", attention_mask, dtype=("integer", "bool"), ndim=(1, 2))
    mask = (mask[None] if mask.dim() == 1 else mask).long()
    if mask.shape != idx.shape:
        raise validate.ShapeError(f"attention_mask {tuple(mask.shape)} must have the shape of idx {tuple(idx.shape)}.")
    if ((mask != 0) & (mask != 1)).any():
        raise validate.ArgumentValueError("attention_mask must hold 0 (padding) and 1 (a token) only.")
    if (mask[:, 1:] < mask[:, :-1]).any() or (mask[:, -1] == 0).any():
        raise validate.ArgumentValueError("attention_mask must be left padding: in each row, zeros then at least one 1 "
                                          "(pad prompts on the left, so every row's newest token is last).")
    if not (use_cache and _takes_cache(model) and getattr(model, "supports_left_padding", False)):
        raise validate.ArgumentValueError("attention_mask (left-padded prompts) needs the cached path of a model with "
                                          "relative positions (the course's Llama with RoPE); generate each prompt on its own.")
    if idx.shape[1] + max_new_tokens > block:
        raise validate.ArgumentValueError(f"left-padded prompts of {idx.shape[1]} tokens plus max_new_tokens={max_new_tokens} "
                                          f"do not fit the context of {block}; ask for fewer tokens.")
    return (mask == 0).sum(1)


def generate(model, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, greedy: bool = False,
             generator: torch.Generator | None = None, use_cache: bool = True,
             stop_token: int | None = None, on_token=None, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Append ``max_new_tokens`` tokens to idx (batch, tokens); returns (batch, tokens + new).

    Prompts of different lengths go in one batch left-padded, with ``attention_mask`` (batch, tokens)
    0 over each row's padding and 1 over its tokens: no token attends to the padding. It needs the
    cached path and a model whose positions are relative (RoPE: a row shifted right by its padding
    sees the same distances between its tokens), and prompt plus new tokens must fit in the context.

    With ``use_cache`` (and a model that takes a kv_cache) the prompt is processed once and each
    step feeds only the newest token. A prompt longer than the model's context is cropped to its last
    block_size tokens, with a warning. When the context fills up while generating, the uncached path
    slides its window by one token per step; the cached path starts a new cache from the last half of
    the window (so past the context the two may differ). ``stop_token`` ends generation once every
    row has produced it (rows that finished early are padded with it). ``on_token(next_ids)`` is
    called with each step's new tokens (batch, 1) as they come: streaming to a chat window.
    """
    if not validate.boolean("greedy", greedy):
        temperature, top_k, top_p = check_sampling(temperature, top_k, top_p)
    max_new_tokens = validate.non_negative_int("max_new_tokens", max_new_tokens)
    use_cache = validate.boolean("use_cache", use_cache)
    stop_token = validate.non_negative_int("stop_token", stop_token, optional=True)
    if not isinstance(idx, torch.Tensor):  # a list of ids is fine; text is not
        idx = validate.token_ids("idx", idx, min_len=0)
    validate.tensor("idx", idx, dtype="integer", ndim=(1, 2))
    if idx.dim() == 1:
        idx = idx[None]
    if idx.dim() != 2 or idx.shape[1] == 0:
        raise validate.ArgumentValueError(
            f"the prompt is empty (idx of shape {tuple(idx.shape)}); give at least one token, "
            f"e.g. a beginning-of-text token.")
    block = _block_size(model)
    pad = None if attention_mask is None else _left_padding(model, idx, attention_mask, max_new_tokens, block, use_cache)
    if idx.shape[1] > block:
        warnings.warn(f"the prompt has {idx.shape[1]} tokens, more than the model's context of {block}; "
                      f"only its last {block} tokens are used.", stacklevel=2)
        idx = idx[:, -block:]
    cached = use_cache and _takes_cache(model)
    was_training = model.training
    model.eval()
    with torch.inference_mode():  # no_grad, and no version counters: a little faster per token
        done = torch.zeros(idx.shape[0], dtype=torch.bool, device=idx.device)
        cache = None
        for step in range(max_new_tokens):
            if not cached:
                logits = _logits(model, idx[:, -block:])[:, -1, :]  # the whole window, every step
            elif cache is None or cache.pos == cache.max_len:  # prefill (or refill once the window is full)
                context = idx[:, -(max(1, block // 2) if cache is not None else block):]
                cache = KVCache(model.config.n_layer, min(block, context.shape[1] + max_new_tokens - step), pad)
                logits = model(context, kv_cache=cache)[:, -1, :]
            else:
                logits = model(idx[:, -1:], kv_cache=cache)[:, -1, :]  # only the newest token
            nxt = sample_next(logits, temperature, top_k, top_p, greedy, generator)  # (batch, 1)
            if stop_token is not None:
                nxt = nxt.masked_fill(done[:, None], stop_token)
                done |= nxt[:, 0] == stop_token
            idx = torch.cat([idx, nxt], dim=1)
            if on_token is not None:
                on_token(nxt)
            if stop_token is not None and bool(done.all()):
                break
    model.train(was_training)
    return idx.clone()  # a normal tensor again: it can feed training (an inference-mode one could not)


@torch.no_grad()
def total_nll(model, ids: torch.Tensor, block_size: int | None = None, batch_size: int = 8) -> tuple[float, int]:
    """Summed negative log-likelihood (nats) of a 1-D token stream, and how many tokens it scored.

    The stream is cut into windows of block_size + 1 tokens that overlap by one, so every token but
    the first is predicted exactly once (from the tokens before it in its window).
    """
    ids = validate.token_ids("ids", ids, min_len=0).flatten()
    block = validate.positive_int("block_size", block_size, optional=True) or _block_size(model)
    batch_size = validate.positive_int("batch_size", batch_size)
    if len(ids) < 2:
        raise validate.ArgumentValueError(f"ids holds {len(ids)} token(s); perplexity needs at least two tokens.")
    device = next(model.parameters()).device
    starts = list(range(0, len(ids) - 1, block))
    was_training = model.training
    model.eval()
    nll, count = 0.0, 0
    for i in range(0, len(starts), batch_size):
        chunk = [ids[s:s + block + 1] for s in starts[i:i + batch_size]]
        for c in ([chunk[:-1], chunk[-1:]] if len(chunk[-1]) != len(chunk[0]) else [chunk]):
            if not c:
                continue
            x = torch.stack(c).to(device)  # (b, t + 1)
            logits = _logits(model, x[:, :-1]).float()  # (b, t, vocab)
            nll += F.cross_entropy(logits.reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1),
                                   reduction="sum").item()
            count += x[:, 1:].numel()
    model.train(was_training)
    return nll, count


def perplexity(model, ids: torch.Tensor, block_size: int | None = None, n_chars: int | None = None,
               n_words: int | None = None, batch_size: int = 8) -> dict:
    """Perplexity of a token stream: per token, and per character / word when their counts are given.

    Per-token perplexity depends on the tokeniser (a character model predicts ~4x more, easier
    tokens than a BPE model); ``exp(total NLL / characters)`` does not, so two models compare on it.
    """
    n_chars = validate.positive_int("n_chars", n_chars, optional=True)
    n_words = validate.positive_int("n_words", n_words, optional=True)
    nll, count = total_nll(model, ids, block_size, batch_size)
    out = {"nll": nll, "tokens": count, "loss": nll / count, "ppl_token": math.exp(nll / count)}
    if n_chars:
        out["bits_per_char"] = nll / n_chars / math.log(2)
        out["ppl_char"] = math.exp(nll / n_chars)
    if n_words:
        out["ppl_word"] = math.exp(nll / n_words)
    return out
