"""Characters to ids, and padded (source, target) batches for the encoder-decoder of ``helpers.seq2seq``.

    CharTokenizer       characters <-> ids with <pad>, <bos>, <eos>, <unk>; pads a batch, makes its mask
    pairs_to_batches    (source, target) pairs as padded id tensors, encoded once
    batch_sampler       the ``get_batch(split, generator)`` of the course's one training loop: batches of
                        lines of about one length (little padding), targets shifted for teacher forcing

Why characters: the task is mostly spelling (vnfold -> unfold, selfe -> self, Heauen -> heaven); see
``helpers.seq2seq``'s docstring.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import torch

from . import validation as validate
from .pretraining import IGNORE_INDEX

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")


class CharTokenizer:
    """One id per character seen in ``texts`` (sorted), after the four special tokens."""

    def __init__(self, texts: Sequence[str]):
        texts = validate.list_of_str("texts", texts, min_len=0)  # empty: refused below
        chars = sorted(set("".join(texts)))
        if not chars:
            raise validate.ArgumentValueError("CharTokenizer needs some text to collect characters from; got none.")
        self.itos = list(SPECIALS) + chars
        self.stoi = {c: i for i, c in enumerate(self.itos)}
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = range(4)

    def __len__(self) -> int:
        return len(self.itos)

    def __repr__(self) -> str:
        return f"CharTokenizer({len(self)} ids: 4 special + {len(self) - 4} characters)"

    def encode(self, text: str, bos: bool = False, eos: bool = True) -> list[int]:
        validate.string("text", text, non_empty=False)
        ids = [self.stoi.get(c, self.unk_id) for c in text]
        return ([self.bos_id] if bos else []) + ids + ([self.eos_id] if eos else [])

    def decode(self, ids) -> str:
        ids = validate.token_ids("ids", ids, vocab_size=len(self.itos), min_len=0).tolist()
        return "".join(self.itos[i] for i in ids if i >= len(SPECIALS))

    def batch(self, texts: Sequence[str], max_len: int | None = None, bos: bool = False, eos: bool = True,
              crop: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded ids (batch, longest) and 0/1 mask; a text over ``max_len`` ids is an error, or cropped."""
        texts = validate.list_of_str("texts", texts, min_len=0)
        max_len = validate.positive_int("max_len", max_len, optional=True)
        rows = [self.encode(t, bos, eos) for t in texts]
        too_long = [i for i, r in enumerate(rows) if max_len is not None and len(r) > max_len]
        if too_long and not crop:
            raise validate.ArgumentValueError(
                f"{len(too_long)} text(s) are longer than the model's context of {max_len} ids "
                f"(the first, #{too_long[0]}, has {len(rows[too_long[0]])}); shorten them or pass "
                             f"crop=True to cut them (with a warning).")
        if too_long:
            warnings.warn(f"{len(too_long)} source text(s) cropped to the model's context of {max_len} ids.")
            rows = [r[:max_len - 1] + r[-1:] if eos else r[:max_len] for r in rows]
        longest = max((len(r) for r in rows), default=1)
        ids = torch.full((len(rows), longest), self.pad_id, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = torch.tensor(r, dtype=torch.long)
        return ids, (ids != self.pad_id).long()


# --------------------------------------------------------------------------------------------
# Batches for the training loop
# --------------------------------------------------------------------------------------------


def pairs_to_batches(tok: CharTokenizer, pairs: Sequence[tuple[str, str]], max_len: int) -> dict:
    """Encode (source, target) pairs once: src (n, S), tgt (n, T+1) = <bos> y <eos>, padded; pairs whose
    source or target exceeds ``max_len`` ids are dropped (and counted)."""
    if not isinstance(tok, CharTokenizer) or isinstance(pairs, str):
        raise validate.ArgumentTypeError("pairs_to_batches needs a CharTokenizer and a list of (source, target) pairs.")
    max_len = validate.positive_int("max_len", max_len)
    if len(pairs) == 0:
        raise validate.ArgumentValueError("no pairs to encode: the list is empty.")
    keep = [(s, t) for s, t in pairs if len(s) + 1 <= max_len and len(t) + 1 <= max_len]
    src, _ = tok.batch([s for s, _ in keep])
    tgt, _ = tok.batch([t for _, t in keep], bos=True, eos=True)
    return {"src": src, "tgt": tgt, "dropped": len(pairs) - len(keep)}


def batch_sampler(splits: dict[str, dict], batch_size: int, pad_id: int = 0, device="cpu",
                  by_length: bool = True):
    """get_batch(split, generator) -> (src, src_mask, tgt_in, tgt_out), trimmed to their longest member;
    tgt_out is tgt_in shifted one left, pads replaced by IGNORE_INDEX.

    by_length: a batch is ``batch_size`` neighbours in the list sorted by source length, from a random
    place, so a batch holds lines of about one length and little of it is padding (twice as fast on
    these lines); False: pairs drawn at random.
    """
    if not isinstance(splits, dict):
        raise validate.ArgumentTypeError(f"splits must be a dict split -> pairs_to_batches(...); got {type(splits).__name__}.")
    batch_size, pad_id = validate.positive_int("batch_size", batch_size), validate.non_negative_int("pad_id", pad_id)
    by_length = validate.boolean("by_length", by_length)
    order = {}
    for name, d in splits.items():
        lengths = (d["src"] != pad_id).sum(1)
        if len(lengths) < batch_size:
            raise validate.ArgumentValueError(
                f"the {name!r} split has {len(lengths)} pairs, fewer than batch_size {batch_size}.")
        shuffled = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(0))
        order[name] = shuffled[torch.argsort(lengths[shuffled], stable=True)]  # by length, ties in random order

    def get_batch(split, generator):
        d = splits[split]
        if by_length:
            start = int(torch.randint(len(order[split]) - batch_size + 1, (1,), generator=generator))
            idx = order[split][start:start + batch_size]
        else:
            idx = torch.randint(len(d["src"]), (batch_size,), generator=generator)
        src, tgt = d["src"][idx], d["tgt"][idx]
        src = src[:, :int((src != pad_id).sum(1).max())]  # trim the common padding
        tgt = tgt[:, :int((tgt != pad_id).sum(1).max())]
        tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:].masked_fill(tgt[:, 1:] == pad_id, IGNORE_INDEX)
        return tuple(t.to(device) for t in (src, (src != pad_id).long(), tgt_in, tgt_out))

    return get_batch
