"""Generating text from a causal language model, and measuring it on held-out text.

    check_sampling          clear errors for temperature <= 0, top_k < 1, top_p outside (0, 1]
    top_k_filter            keep the k most likely tokens, the rest get -inf
    top_p_filter            keep the smallest set of tokens whose probability reaches p (nucleus)
    sample_next             one token per row: greedy, or temperature + top-k + top-p sampling
    generate                append new tokens to a prompt, one at a time
    total_nll, perplexity   negative log-likelihood of a token stream; perplexity per token, and per
                            character or word so that models with different tokenisers compare fairly

``model`` is anything that maps idx (batch, tokens) to logits (batch, tokens, vocab): the course's GPT,
or a Hugging Face causal LM (its output's ``.logits`` is used).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def check_sampling(temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None) -> None:
    """Raise ValueError for sampling parameters out of range."""
    if not (isinstance(temperature, (int, float)) and temperature > 0 and math.isfinite(temperature)):
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}; for the single most "
                         f"likely token use greedy=True instead of temperature 0.")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a whole number >= 1 (or None for no limit), got {top_k!r}.")
    if top_p is not None and not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise ValueError(f"top_p must lie in (0, 1] (1 keeps every token), got {top_p!r}.")


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """logits (..., vocab) -> same shape, everything below the k-th largest set to -inf."""
    k = min(k, logits.size(-1))
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1) the k-th largest
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering: keep the most likely tokens until their probabilities sum to at least p.

    The most likely token is always kept. logits (..., vocab) -> same shape with -inf elsewhere.
    """
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
    if greedy:
        return logits.argmax(dim=-1, keepdim=True)
    check_sampling(temperature, top_k, top_p)
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
    return getattr(config, "block_size", None) or getattr(config, "n_positions", None) or default


@torch.no_grad()
def generate(model, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, greedy: bool = False,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Append ``max_new_tokens`` tokens to idx (batch, tokens); returns (batch, tokens + new)."""
    if not greedy:
        check_sampling(temperature, top_k, top_p)
    if idx.dim() == 1:
        idx = idx[None]
    block = _block_size(model)
    was_training = model.training
    model.eval()
    for _ in range(max_new_tokens):
        logits = _logits(model, idx[:, -block:])[:, -1, :]  # (batch, vocab)
        idx = torch.cat([idx, sample_next(logits, temperature, top_k, top_p, greedy, generator)], dim=1)
    model.train(was_training)
    return idx


@torch.no_grad()
def total_nll(model, ids: torch.Tensor, block_size: int | None = None, batch_size: int = 8) -> tuple[float, int]:
    """Summed negative log-likelihood (nats) of a 1-D token stream, and how many tokens it scored.

    The stream is cut into windows of block_size + 1 tokens that overlap by one, so every token but
    the first is predicted exactly once (from the tokens before it in its window).
    """
    ids = ids.flatten()
    block = block_size or _block_size(model)
    if len(ids) < 2:
        raise ValueError("perplexity needs at least two tokens.")
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
    nll, count = total_nll(model, ids, block_size, batch_size)
    out = {"nll": nll, "tokens": count, "loss": nll / count, "ppl_token": math.exp(nll / count)}
    if n_chars:
        out["bits_per_char"] = nll / n_chars / math.log(2)
        out["ppl_char"] = math.exp(nll / n_chars)
    if n_words:
        out["ppl_word"] = math.exp(nll / n_words)
    return out
