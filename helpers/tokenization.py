"""Byte-pair encoding written from scratch: train merges on a corpus, encode, decode.

Byte-level, like GPT-2: the first 256 tokens are the bytes, so any text encodes and decodes back
exactly. Training (Sennrich et al., 2016):

1. split the text into words with a regex (a space stays glued to the word after it);
2. count each distinct word once, as a sequence of byte tokens, with its frequency;
3. repeatedly find the most frequent adjacent pair of tokens, give it a new id, and merge it
   everywhere, until the vocabulary has ``vocab_size`` tokens.

Step 3 keeps the pair counts up to date incrementally (only the words holding the merged pair are
touched) and finds the most frequent pair with a heap, which is what makes thousands of merges on
the course corpus take seconds, not hours.
Encoding applies the learned merges in the order they were learned.

``BPETokenizer.from_tokenizer_json`` loads a released byte-level BPE (GPT-2's, SmolLM2's: its
vocabulary, merges and special tokens) into the same class, and encodes exactly as the ``tokenizers``
library does (tests/test_tokenization.py compares them on unicode, digits, whitespace runs and a chat).
"""

from __future__ import annotations

import collections
import heapq
import json
import math
from pathlib import Path
from typing import Iterable

import regex

from . import validation as validate

# GPT-2's pre-tokenisation pattern: contractions, letters, numbers, other symbols, spaces.
PATTERN = regex.compile(r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def words(text: str) -> list[str]:
    """Pre-tokenise: the pieces BPE never merges across (" the", " cat", ".", ...)."""
    validate.string("text", text, non_empty=False)
    return PATTERN.findall(text)


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's map from the 256 bytes to printable characters, used by vocabulary files to store byte
    tokens as text: printable bytes map to themselves, the others (space, newline...) to chr(256 + n),
    so a space is 'Ġ' and a newline 'Ċ'."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, n = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + n)
            n += 1
    return chars


def merge_pair(ids: list[int], pair: tuple[int, int], new: int) -> list[int]:
    """``ids`` with every non-overlapping occurrence of ``pair``, left to right, replaced by ``new``."""
    if not (isinstance(pair, tuple) and len(pair) == 2) or isinstance(ids, (str, bytes)):  # cheap: a hot loop
        raise validate.ArgumentTypeError(f"merge_pair needs ids, a list of token ids, and pair, a tuple of two ids; "
                                         f"got ids={validate._show(ids)}, pair={validate._show(pair)}.")
    out, j = [], 0
    while j < len(ids):
        if j + 1 < len(ids) and ids[j] == pair[0] and ids[j + 1] == pair[1]:
            out.append(new)
            j += 2
        else:
            out.append(ids[j])
            j += 1
    return out


class BPETokenizer:
    """A byte-level BPE tokenizer: ``BPETokenizer.train(texts, vocab_size)``, then encode / decode."""

    def __init__(self, merges: list[tuple[int, int]] | None = None):
        self.merges: dict[tuple[int, int], int] = {}  # (left id, right id) -> new id, in order
        self.ranks: dict[tuple[int, int], int] = {}  # (left id, right id) -> when it was learned
        self.vocab: dict[int, bytes] = {i: bytes([i]) for i in range(256)}
        self.byte_ids: list = list(range(256))  # each byte's id (a released vocabulary orders them its own way)
        self.special: dict[str, int] = {}  # special tokens, never split: "<|im_start|>" -> 1
        bad = [p for p in merges or [] if isinstance(p, (str, bytes)) or len(p) != 2]
        if bad:
            raise validate.ArgumentTypeError(f"merges must be a list of (left id, right id) pairs; found {bad[0]!r}.")
        for pair in merges or []:
            self._add_merge(tuple(pair))
        self._cache: dict[str, list[int]] = {}

    def _add_merge(self, pair: tuple[int, int], new: int | None = None) -> int:
        new = 256 + len(self.merges) if new is None else new
        self.ranks[pair] = len(self.merges)
        self.merges[pair] = new
        self.vocab[new] = self.vocab[pair[0]] + self.vocab[pair[1]]
        return new

    @classmethod
    def from_tokenizer_json(cls, spec) -> "BPETokenizer":
        """A released byte-level BPE from its tokenizer.json (a path, a JSON string or the parsed dict;
        for a transformers tokenizer, ``tok.backend_tokenizer.to_str()``)."""
        if isinstance(spec, Path) or (isinstance(spec, str) and not spec.lstrip().startswith("{")):
            spec = Path(spec).read_text(encoding="utf-8")
        spec = json.loads(spec) if isinstance(spec, str) else spec
        model, pre = spec.get("model", {}), spec.get("pre_tokenizer") or {}
        if model.get("type") != "BPE" or pre.get("type") != "ByteLevel" or not pre.get("use_regex", True) \
                or spec.get("normalizer"):
            raise validate.ArgumentValueError(
                f"expected a byte-level BPE with GPT-2's pre-tokeniser and no normaliser; got model "
                f"{model.get('type')!r}, pre_tokenizer {pre.get('type')!r}, normalizer "
                f"{(spec.get('normalizer') or {}).get('type')!r}.")
        to_byte = {c: b for b, c in bytes_to_unicode().items()}
        tok = cls()
        tok.vocab = {i: bytes(to_byte[c] for c in t) for t, i in model["vocab"].items()}
        token_id = model["vocab"]
        # a byte missing from the vocabulary (SmolLM2 lacks a few control bytes) is dropped, as tokenizers does
        tok.byte_ids = [token_id.get(c) for c in bytes_to_unicode().values()]
        for m in model["merges"]:
            a, b = m.split(" ") if isinstance(m, str) else m
            tok._add_merge((token_id[a], token_id[b]), token_id[a + b])
        for t in spec.get("added_tokens", []):
            tok.special[t["content"]] = t["id"]
            tok.vocab[t["id"]] = t["content"].encode("utf-8")
        return tok

    def __len__(self) -> int:
        return len(self.vocab)

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={len(self)}, merges={len(self.merges)})"

    # ---- training --------------------------------------------------------------------------

    @classmethod
    def train(cls, texts: Iterable[str] | str, vocab_size: int, min_frequency: int = 2,
              progress: bool = False) -> "BPETokenizer":
        """Learn ``vocab_size - 256`` merges from ``texts`` (stops early when no pair occurs
        ``min_frequency`` times)."""
        vocab_size = validate.integer("vocab_size", vocab_size, low=256)  # the 256 bytes at least
        min_frequency = validate.positive_int("min_frequency", min_frequency)
        progress = validate.boolean("progress", progress)
        texts = [texts] if isinstance(texts, str) else validate.list_of_str("texts", texts)
        counts = collections.Counter(w for t in texts for w in words(t))
        if not counts:
            raise validate.ArgumentValueError("no text to train on.")
        seqs = [list(w.encode("utf-8")) for w in counts]  # each distinct word as byte ids
        freqs = list(counts.values())

        pair_counts: collections.Counter = collections.Counter()
        where: dict[tuple[int, int], set[int]] = collections.defaultdict(set)  # pair -> word indices
        for i, s in enumerate(seqs):
            for pair in zip(s, s[1:]):
                pair_counts[pair] += freqs[i]
                where[pair].add(i)

        # Ties between equally frequent pairs go to the pair that comes first when tokens are ordered as
        # GPT-2's byte-level BPE (and the tokenizers library) order them: the 256 bytes by their printable
        # character (bytes_to_unicode), then merged tokens in the order they were made.
        order = {b: r for r, b in enumerate(sorted(range(256), key=bytes_to_unicode().get))}

        def key(pair):
            return tuple(order.get(t, t) for t in pair)

        # a max-heap of (-count, tie-break key, pair); entries go stale when a count changes and are skipped
        heap = [(-c, key(p), p) for p, c in pair_counts.items()]
        heapq.heapify(heap)
        tok = cls()
        n_merges = vocab_size - 256
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_merges, desc="BPE merges")
        for _ in range(n_merges):
            # the most frequent pair, ties broken as GPT-2's BPE does (above)
            while heap and pair_counts.get(heap[0][2], 0) != -heap[0][0]:
                heapq.heappop(heap)  # stale
            if not heap or -heap[0][0] < min_frequency:
                break
            count, _, best = heapq.heappop(heap)
            new = tok._add_merge(best)
            touched = set()
            for i in list(where.pop(best, ())):
                s, f = seqs[i], freqs[i]
                for pair in zip(s, s[1:]):  # forget this word's old pairs ...
                    pair_counts[pair] -= f
                    touched.add(pair)
                merged = merge_pair(s, best, new)  # ... merge every occurrence of best ...
                seqs[i] = merged
                for pair in zip(merged, merged[1:]):  # ... and count its new pairs
                    pair_counts[pair] += f
                    where[pair].add(i)
                    touched.add(pair)
            pair_counts.pop(best, None)
            touched.discard(best)
            for pair in touched:
                c = pair_counts[pair]
                if c > 0:
                    heapq.heappush(heap, (-c, key(pair), pair))
                else:
                    del pair_counts[pair]
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        return tok

    # ---- encoding --------------------------------------------------------------------------

    def _encode_word(self, word: str) -> list[int]:
        ids = self._cache.get(word)
        if ids is not None:
            return ids
        ids = [i for i in map(self.byte_ids.__getitem__, word.encode("utf-8")) if i is not None]
        while len(ids) > 1:
            # the pair learned earliest is merged first, as in training
            pair = min(zip(ids, ids[1:]), key=lambda p: self.ranks.get(p, math.inf))
            new = self.merges.get(pair)
            if new is None:
                break
            ids = merge_pair(ids, pair, new)
        if len(self._cache) < 200_000:
            self._cache[word] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        """Text -> token ids. Special tokens ("<|im_start|>") are cut out first and kept whole."""
        validate.string("text", text, non_empty=False)
        if not self.special:
            return [i for w in words(text) for i in self._encode_word(w)]
        cut = regex.compile("(" + "|".join(map(regex.escape, sorted(self.special, key=len, reverse=True))) + ")")
        ids = []
        for piece in cut.split(text):  # odd pieces are special tokens
            if piece in self.special:
                ids.append(self.special[piece])
            elif piece:
                ids.extend(i for w in words(piece) for i in self._encode_word(w))
        return ids

    def encode_iterable(self, chunks: Iterable[str]):
        """The ids of ``encode("".join(chunks))``, one at a time, holding only a few characters back:
        for a file larger than memory, ``encode_iterable(open(path))`` reads it line by line.

        The last two words of each chunk wait for the next chunk (a word, a contraction or a whitespace
        run may go on there), with the whitespace before them, and so does an unfinished special token.
        """
        rest = ""
        for chunk in chunks:
            text = rest + chunk
            found = [(m.start(), m.group().isspace()) for m in PATTERN.finditer(text)]
            # the last two words may still change ("'r" + "e" is "'re"; a word may grow) ...
            cut = found[-2][0] if len(found) > 1 else 0
            for start, space in reversed(found[:-2]):  # ... and how a whitespace run before them splits
                if not space:  # depends on what follows the run, so the run waits too
                    break
                cut = start
            for tok in self.special:  # never cut through a special token, whole or begun
                at = text.rfind(tok)
                if at != -1 and at < cut < at + len(tok):
                    cut = at
                for k in range(min(len(tok) - 1, len(text)), 0, -1):
                    if text.endswith(tok[:k]):
                        cut = min(cut, len(text) - k)
                        break
            yield from self.encode(text[:cut])
            rest = text[cut:]
        yield from self.encode(rest)

    def decode(self, ids: Iterable[int]) -> str:
        """Token ids -> text (exactly the text encoded)."""
        if not isinstance(ids, (list, tuple, str)) and not hasattr(ids, "dtype"):
            ids = list(ids)  # a generator of ids
        ids = validate.token_ids("ids", ids, min_len=0).tolist()
        try:
            raw = b"".join(self.vocab[int(i)] for i in ids)
        except KeyError as err:
            raise validate.ArgumentValueError(
                f"token id {err.args[0]} is not in this vocabulary of {len(self)}.") from None
        return raw.decode("utf-8", errors="replace")

    def tokens(self, text: str) -> list[str]:
        """The pieces of ``text`` as strings (a leading space shown as 'Ġ', as GPT-2 does)."""
        return [self.vocab[i].decode("utf-8", errors="replace").replace(" ", "Ġ") for i in self.encode(text)]

    # ---- saving ----------------------------------------------------------------------------

    def save(self, path) -> None:
        path = validate.file_path("path", path, must_exist=False, writable=True)
        Path(path).write_text(json.dumps({"merges": list(self.merges)}))

    @classmethod
    def load(cls, path) -> "BPETokenizer":
        path = validate.file_path("path", path)
        return cls([tuple(p) for p in json.loads(Path(path).read_text())["merges"]])
