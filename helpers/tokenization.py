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
"""

from __future__ import annotations

import collections
import heapq
import json
from pathlib import Path
from typing import Iterable

import regex

# GPT-2's pre-tokenisation pattern: contractions, letters, numbers, other symbols, spaces.
PATTERN = regex.compile(r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def words(text: str) -> list[str]:
    """Pre-tokenise: the pieces BPE never merges across (" the", " cat", ".", ...)."""
    return PATTERN.findall(text)


def merge_pair(ids: list[int], pair: tuple[int, int], new: int) -> list[int]:
    """``ids`` with every non-overlapping occurrence of ``pair``, left to right, replaced by ``new``."""
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
        self.vocab: dict[int, bytes] = {i: bytes([i]) for i in range(256)}
        for pair in merges or []:
            self._add_merge(tuple(pair))
        self._cache: dict[str, list[int]] = {}

    def _add_merge(self, pair: tuple[int, int]) -> int:
        new = 256 + len(self.merges)
        self.merges[pair] = new
        self.vocab[new] = self.vocab[pair[0]] + self.vocab[pair[1]]
        return new

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
        if vocab_size < 256:
            raise ValueError(f"a byte-level vocabulary holds the 256 bytes at least; got vocab_size={vocab_size}.")
        if isinstance(texts, str):
            texts = [texts]
        counts = collections.Counter(w for t in texts for w in words(t))
        if not counts:
            raise ValueError("no text to train on.")
        seqs = [list(w.encode("utf-8")) for w in counts]  # each distinct word as byte ids
        freqs = list(counts.values())

        pair_counts: collections.Counter = collections.Counter()
        where: dict[tuple[int, int], set[int]] = collections.defaultdict(set)  # pair -> word indices
        for i, s in enumerate(seqs):
            for pair in zip(s, s[1:]):
                pair_counts[pair] += freqs[i]
                where[pair].add(i)

        # a max-heap of (-count, pair); entries go stale when a count changes and are skipped on pop
        heap = [(-c, p) for p, c in pair_counts.items()]
        heapq.heapify(heap)
        tok = cls()
        n_merges = vocab_size - 256
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_merges, desc="BPE merges")
        for _ in range(n_merges):
            # the most frequent pair; ties go to the smallest pair of ids, so training is deterministic
            while heap and pair_counts.get(heap[0][1], 0) != -heap[0][0]:
                heapq.heappop(heap)  # stale
            if not heap or -heap[0][0] < min_frequency:
                break
            count, best = heapq.heappop(heap)
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
                    heapq.heappush(heap, (-c, pair))
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
        ids = list(word.encode("utf-8"))
        while len(ids) > 1:
            # the pair learned earliest is merged first, as in training
            pair = min(zip(ids, ids[1:]), key=lambda p: self.merges.get(p, float("inf")))
            new = self.merges.get(pair)
            if new is None:
                break
            ids = merge_pair(ids, pair, new)
        if len(self._cache) < 200_000:
            self._cache[word] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        """Text -> token ids."""
        return [i for w in words(text) for i in self._encode_word(w)]

    def decode(self, ids: Iterable[int]) -> str:
        """Token ids -> text (exactly the text encoded)."""
        try:
            raw = b"".join(self.vocab[int(i)] for i in ids)
        except KeyError as err:
            raise ValueError(f"token id {err.args[0]} is not in this vocabulary of {len(self)}.") from None
        return raw.decode("utf-8", errors="replace")

    def tokens(self, text: str) -> list[str]:
        """The pieces of ``text`` as strings (a leading space shown as 'Ġ', as GPT-2 does)."""
        return [self.vocab[i].decode("utf-8", errors="replace").replace(" ", "Ġ") for i in self.encode(text)]

    # ---- saving ----------------------------------------------------------------------------

    def save(self, path) -> None:
        Path(path).write_text(json.dumps({"merges": list(self.merges)}))

    @classmethod
    def load(cls, path) -> "BPETokenizer":
        return cls([tuple(p) for p in json.loads(Path(path).read_text())["merges"]])
