"""A parallel corpus from Shakespeare: each line of a modern edition beside the First Folio's words.

The ``shakespeare`` package holds 35 plays twice: ``*_gut.txt`` in modern spelling and punctuation,
``*_gut_f.txt`` as printed in the First Folio of 1623 ("Giue me excesse of it"). The two editions
break lines differently (prose above all) and the Folio drops many full stops, so lines are not
paired by number. Instead:

    pair_files      find each play's two files (their names differ: twelfe-night / twelfth_night)
    modern_lines    the spoken lines of the modern text: no speaker names, [stage directions], headings
    folio_words     the spoken words of the Folio text: no speaker prefixes, Enter/Exit lines, headings
    align_play      match the two word streams with difflib over *normalised* words (v->u, j->i,
                    final e dropped, double letters single, so "vnfolde" meets "unfold"), give every
                    modern line the Folio words its words matched, and keep the pair when the two
                    normalised texts are similar enough; empty, foreign-script or too long lines are
                    skipped and counted, never fatal
    parallel_corpus every play aligned, split by play (no play in two splits), cached on disk

A pair is ``(folio, modern)``: the source the model reads and the target it should write.
"""

from __future__ import annotations

import difflib
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from . import data
from . import validation as validate

ALIGN_VERSION = 1  # bump when cleaning or alignment changes: the cached corpus is rebuilt

# --------------------------------------------------------------------------------------------
# Finding the plays
# --------------------------------------------------------------------------------------------


def _play_key(path: Path) -> str:
    return path.name.removesuffix("_gut_f.txt").removesuffix("_gut.txt")


def pair_files(folder: Path | None = None) -> dict[str, tuple[Path, Path]]:
    """{play: (folio file, modern file)} for every Folio play whose modern edition is in ``folder``.

    File names differ in spelling ("twelfe-night" against "twelfth_night"), so each Folio file takes
    the closest modern name that no other Folio file claimed first.
    """
    folder = validate.dir_path("folder", folder, must_exist=True) if folder is not None else None
    folder = Path(folder) if folder is not None else data.asset_path("shakespeare")
    folios = sorted(folder.glob("*_gut_f.txt"))
    modern = {_play_key(p): p for p in folder.glob("*_gut.txt")}
    pairs: dict[str, tuple[Path, Path]] = {}
    for f in folios:
        key = _play_key(f)
        match = key if key in modern else None
        if match is None:
            close = difflib.get_close_matches(key, list(modern), n=1, cutoff=0.6)
            match = close[0] if close else None
        if match is not None:
            pairs[match] = (f, modern.pop(match))
    return dict(sorted(pairs.items()))


# --------------------------------------------------------------------------------------------
# Cleaning each edition
# --------------------------------------------------------------------------------------------

_BRACKETS = re.compile(r"\[[^\]]*\]", re.S)  # modern stage directions, sometimes over several lines
_HEADING = re.compile(r"^\s*(ACT|Act|SCENE|Scene|PERSONS|Dramatis|THE END|FINIS|Finis)\b")
# "Ber.", "FIRST LORD.", "1 Clown.", "Mar. and Ber."
_MODERN_SPEAKER = re.compile(r"^(?:\d )?[A-Z][A-Za-z'\-.]*(?: (?:and|[A-Z][A-Za-z'\-.]*)){0,3}\.$")
_FOLIO_DIRECTION = re.compile(
    r"^\s*(Enter|Exit|Exeunt|Exeant|Manet|Flourish|Actus|Actvs|Scena|Scoena|Scaena|Alarum|Alarums|"
    r"Sound|Sennet|Trumpets|Hoboyes|Retreat|Thunder|Musicke plaies|Finis|FINIS)\b")
_FOLIO_SPEAKER = re.compile(r"^\s+((?:[\w'&]+\.?\s?){1,3}?)\.\s*")  # "  Fran. ", "   B.Ely. ", "  1.Lord. "


def modern_lines(text: str) -> list[str]:
    """The spoken lines of a modern edition, in order: speaker lines, directions and headings gone."""
    validate.string("text", text, non_empty=False)
    text = _BRACKETS.sub(" ", text)
    out = []
    for para in re.split(r"\n\s*\n", text):
        lines = [line.rstrip() for line in para.split("\n")]
        lines = [line for line in lines if line.strip()]
        if lines and _MODERN_SPEAKER.match(lines[0].strip()) and len(lines[0]) <= 30:
            lines = lines[1:]  # a speech starts with its speaker's name on a line of its own
        out += [" ".join(line.split()) for line in lines if not _HEADING.match(line)]
    return [line for line in out if line]


def folio_words(text: str) -> list[str]:
    """The spoken words of a Folio edition, in order (one stream: its line breaks do not matter)."""
    validate.string("text", text, non_empty=False)
    words: list[str] = []
    for line in text.split("\n"):
        if not line.strip() or _FOLIO_DIRECTION.match(line):
            continue
        m = _FOLIO_SPEAKER.match(line)
        if m and len(m.group(0)) <= 25:
            line = line[m.end():]
        words += line.split()
    return words


def normalise(word: str) -> str:
    """A spelling-blind key for matching words across editions: "Vnfolde" -> "unfold", "Giue" -> "giu".

    Lower case, letters only ("&" is "and"), v->u, j->i, y->i, a final e dropped, doubled letters single.
    """
    validate.string("word", word, non_empty=False)
    if word == "&":
        return "and"
    w = re.sub(r"[^a-z]", "", word.lower()).translate(str.maketrans("vjy", "uii"))
    if len(w) > 2 and w.endswith("e"):
        w = w[:-1]
    return re.sub(r"(.)\1", r"\1", w)


def _keys(line: str) -> list[str]:
    return [k for k in (normalise(w) for w in line.replace("--", " ").split()) if k]


def similarity(folio: str, modern: str) -> float:
    """How alike two lines are once spelling is set aside: difflib's ratio of their normalised letters."""
    validate.string("folio", folio, non_empty=False), validate.string("modern", modern, non_empty=False)
    a, b = " ".join(_keys(folio)), " ".join(_keys(modern))
    if not a or not b:
        return 0.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


# --------------------------------------------------------------------------------------------
# Aligning one play
# --------------------------------------------------------------------------------------------


@dataclass
class PlayAlignment:
    play: str
    pairs: list[tuple[str, str]]  # (folio, modern), kept
    rejected: list[tuple[str, str, float]]  # (folio, modern, similarity) below the threshold
    skipped: Counter = field(default_factory=Counter)  # reason -> count of lines never compared

    def __repr__(self) -> str:
        return (f"PlayAlignment({self.play!r}: {len(self.pairs)} pairs kept, {len(self.rejected)} rejected, "
                f"skipped {dict(self.skipped)})")


def _is_latin(line: str) -> bool:
    """True for lines written in the Latin alphabet (with punctuation): anything else is skipped."""
    letters = [c for c in line if c.isalpha()]
    return bool(letters) and all(c.isascii() or "LATIN" in _char_name(c) for c in letters)


def _char_name(c: str) -> str:
    import unicodedata

    return unicodedata.name(c, "")


def align_play(folio_text: str, modern_text: str, play: str = "play", threshold: float = 0.6,
               max_chars: int = 120) -> PlayAlignment:
    """Pair each modern line with the Folio words it matches; keep pairs with similarity >= threshold.

    Lines that are empty after cleaning, not in the Latin alphabet, or longer than ``max_chars`` (either
    side) are skipped and counted in ``skipped``; nothing here raises on odd text.
    """
    validate.string("folio_text", folio_text, non_empty=False)
    validate.string("modern_text", modern_text, non_empty=False)
    play = validate.string("play", play)
    threshold, max_chars = validate.probability("threshold", threshold), validate.positive_int("max_chars", max_chars)
    if not 0.0 <= threshold <= 1.0:
        raise validate.ArgumentValueError(f"threshold must lie in [0, 1] (a similarity ratio), got {threshold!r}.")
    if max_chars < 1:
        raise validate.ArgumentValueError(f"max_chars must be a positive number of characters, got {max_chars!r}.")
    result = PlayAlignment(play, [], [])
    lines = []
    for line in modern_lines(modern_text):
        if any(c.isalpha() for c in line) and not _is_latin(line):
            result.skipped["unknown script"] += 1
        elif not _keys(line):
            result.skipped["no words"] += 1
        else:
            lines.append(line)
    f_words = folio_words(folio_text)
    f_keys = [normalise(w) for w in f_words]
    m_keys, m_line = [], []  # one entry per modern word, and the line it belongs to
    for i, line in enumerate(lines):
        ks = _keys(line)
        m_keys += ks
        m_line += [i] * len(ks)
    # For each modern word, the range of Folio words it matched: [start, end)
    start, end = [0] * len(m_keys), [0] * len(m_keys)
    matcher = difflib.SequenceMatcher(None, m_keys, f_keys, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        n, m = i2 - i1, j2 - j1
        for k in range(n):  # equal: one to one; replace: spread the Folio words evenly; delete: none
            start[i1 + k] = j1 + (k * m) // n
            end[i1 + k] = j1 + ((k + 1) * m) // n
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for w, i in enumerate(m_line):
        first.setdefault(i, w)
        last[i] = w
    for i, line in enumerate(lines):
        s, e = start[first[i]], end[last[i]]
        folio = " ".join(f_words[s:e])
        if not folio:
            result.skipped["no Folio words"] += 1
            continue
        if max(len(folio), len(line)) > max_chars:
            result.skipped[f"longer than {max_chars} characters"] += 1
            continue
        sim = similarity(folio, line)
        if sim >= threshold:
            result.pairs.append((folio, line))
        else:
            result.rejected.append((folio, line, round(sim, 3)))
    return result


# --------------------------------------------------------------------------------------------
# The whole corpus, split by play
# --------------------------------------------------------------------------------------------


@dataclass
class ParallelCorpus:
    train: list[tuple[str, str]]  # (folio, modern)
    val: list[tuple[str, str]]
    test: list[tuple[str, str]]
    plays: dict[str, str]  # play -> split
    per_play: dict[str, PlayAlignment]

    def split(self, name: str) -> list[tuple[str, str]]:
        if name not in ("train", "val", "test"):
            raise validate.ArgumentValueError(f"split must be 'train', 'val' or 'test', got {name!r}.")
        return getattr(self, name)

    def report(self) -> list[dict]:
        """One row per play: its split, pairs kept and rejected, lines skipped."""
        return [{"play": p, "split": self.plays[p], "kept": len(a.pairs), "rejected": len(a.rejected),
                 "skipped": sum(a.skipped.values())} for p, a in sorted(self.per_play.items())]

    def __repr__(self) -> str:
        n = {s: sorted(p for p, v in self.plays.items() if v == s) for s in ("train", "val", "test")}
        return (f"ParallelCorpus(train {len(self.train)} pairs / {len(n['train'])} plays, val {len(self.val)} / "
                f"{len(n['val'])}, test {len(self.test)} / {len(n['test'])}: {', '.join(n['test'])})")


def split_plays(plays: Sequence[str], n_val: int = 2, n_test: int = 3, seed: int = 0) -> dict[str, str]:
    """{play: "train" | "val" | "test"}: a seeded choice of whole plays, so no play is in two splits."""
    plays = validate.list_of_str("plays", plays)
    n_val, n_test = validate.non_negative_int("n_val", n_val), validate.non_negative_int("n_test", n_test)
    seed = validate.non_negative_int("seed", seed)
    plays = sorted(plays)
    if n_val < 0 or n_test < 0 or n_val + n_test >= len(plays):
        raise validate.ArgumentValueError(
            f"cannot hold out {n_val} validation and {n_test} test plays out of {len(plays)}: "
            f"at least one play must remain for training.")
    order = plays[:]
    random.Random(seed).shuffle(order)
    out = {p: "train" for p in plays}
    out.update({p: "test" for p in order[:n_test]})
    out.update({p: "val" for p in order[n_test:n_test + n_val]})
    return out


def build_corpus(folder: Path | None = None, threshold: float = 0.6, max_chars: int = 120, n_val: int = 2,
                 n_test: int = 3, seed: int = 0, plays: Sequence[str] | None = None,
                 progress: bool = True) -> ParallelCorpus:
    """Align every play (no cache); ``plays`` picks some by name (see ``pair_files``)."""
    threshold, max_chars = validate.probability("threshold", threshold), validate.positive_int("max_chars", max_chars)
    plays = validate.list_of_str("plays", plays) if plays is not None else None
    progress = validate.boolean("progress", progress)
    from tqdm.auto import tqdm

    files = pair_files(folder)
    if plays is not None:
        unknown = [p for p in plays if p not in files]
        if unknown:
            raise validate.ArgumentValueError(f"unknown plays {unknown}; the paired plays are: {', '.join(files)}.")
        files = {p: files[p] for p in plays}
    per_play = {}
    for play, (f, m) in tqdm(files.items(), desc="aligning plays", disable=not progress):
        per_play[play] = align_play(f.read_text(encoding="utf-8", errors="replace"),
                                    m.read_text(encoding="utf-8", errors="replace"), play, threshold, max_chars)
    assignment = split_plays(list(per_play), n_val, n_test, seed)
    splits: dict[str, list] = {"train": [], "val": [], "test": []}
    for play, a in per_play.items():
        splits[assignment[play]] += a.pairs
    return ParallelCorpus(splits["train"], splits["val"], splits["test"], assignment, per_play)


def parallel_corpus(threshold: float = 0.6, max_chars: int = 120, n_val: int = 2, n_test: int = 3,
                    seed: int = 0, progress: bool = True) -> ParallelCorpus:
    """The Folio -> modern corpus of all paired plays, split by play; built once, then read from the cache."""
    threshold, max_chars = validate.probability("threshold", threshold), validate.positive_int("max_chars", max_chars)
    n_val, n_test = validate.non_negative_int("n_val", n_val), validate.non_negative_int("n_test", n_test)
    seed, progress = validate.non_negative_int("seed", seed), validate.boolean("progress", progress)
    files = [p for pair in pair_files().values() for p in pair]
    return data.cached("parallel-folio-modern", files,
                       lambda: build_corpus(None, threshold, max_chars, n_val, n_test, seed, progress=progress),
                       threshold=threshold, max_chars=max_chars, n_val=n_val, n_test=n_test, seed=seed,
                       version=ALIGN_VERSION)
