"""Checks for notebook 10 (token classification): entity spans, sub-token labels, entity-level F1."""

import math
import random

from . import CheckFailed, Mistake, blame, exercise

TYPES = ("PER", "ORG")
TAGS = ("O", "O", "O", "B-PER", "I-PER", "B-ORG", "I-ORG")  # O twice as likely, as in real text

# Hand-picked cases: each one is a rule learners get wrong.
SPAN_CASES = [
    [],
    ["O", "O", "O"],
    ["B-PER", "I-PER", "O", "B-ORG"],
    ["O", "B-ORG"],  # an entity that ends the sentence
    ["O", "I-PER", "I-PER", "O"],  # I- with no B- before it still starts an entity
    ["B-PER", "B-PER", "I-PER"],  # two entities of one type side by side
    ["B-PER", "I-ORG", "I-ORG"],  # I- of another type starts a new entity
    ["I-ORG"],
]


def _random_tags(rng: random.Random, n: int) -> list[list[str]]:
    return [[rng.choice(TAGS) for _ in range(rng.randint(0, 12))] for _ in range(n)]


def _as_spans(got, what: str) -> list[tuple]:
    try:
        return sorted(tuple(s) for s in got)
    except TypeError:
        raise CheckFailed(f"{what}: return a list of (type, start, end) tuples, got {got!r}.") from None


def _span_mistake(tags, want, got) -> str | None:
    if any(g[:2] == s[:2] and g[2] == s[2] - 1 for s in want for g in got):
        return "inclusive end"
    if any(tags[s[1]].startswith("I-") for s in want if s not in got):
        return "a stray I- dropped"
    if len(got) < len(want):
        return "B- continuing the open entity"
    return None


SPAN_MISTAKES = [
    Mistake("inclusive end", "End is exclusive, like a Python slice: a one-word entity at position 3 is "
            "(TYPE, 3, 4)."),
    Mistake("a stray I- dropped", "An I- tag starts a new entity when no entity of its type is open before it: "
            "after O, at the start of the sentence, or after an entity of another type (conlleval's rule)."),
    Mistake("B- continuing the open entity", "B- always starts a new entity, even right after another entity of "
            "the same type."),
]


@exercise("10.1", "entity spans from BIO tags", mistakes=SPAN_MISTAKES, hint=(
    "Walk through the tags keeping the entity that is open (its type and start). O closes it; B- closes it "
    "and opens a new one; I- continues it only if it has the same type, else it closes it and opens a new one. "
    "Closing records (type, start, position) with the end exclusive; do not forget the entity still open at "
    "the end of the sentence."))
def spans(answer) -> None:
    from helpers.bio import bio_spans

    for tags in SPAN_CASES + _random_tags(random.Random(0), 200):
        want = bio_spans(tags)
        got = _as_spans(answer(list(tags)), f"For tags {tags}")
        if got != sorted(want):
            detail = f"For the tags {tags}:\n  yours:    {got}\n  expected: {want}"
            name = _span_mistake(tags, want, got)
            if name:
                raise blame(name, detail)
            raise CheckFailed(detail + "\nHint: O ends the open entity, B- ends it and starts another, I- of the "
                                       "same type continues it; an entity may end the sentence.")


ALIGN_CASES = [
    # [CLS] tom hanks [SEP]
    ([1, 2], [None, 0, 1, None]),
    # [CLS] tara ##ntino directed jaw ##s [SEP] [PAD] [PAD]
    ([1, 0, 3], [None, 0, 0, 1, 2, 2, None, None, None]),
    # a word cut into three, then a one-piece word
    ([4, 0], [None, 0, 0, 0, 1, None]),
    # nothing but special tokens and padding
    ([], [None, None, None]),
]


ALIGN_MISTAKES = [
    Mistake("every sub-token labelled", "Only the first sub-token of a word carries the word's label; its other "
            "sub-tokens get -100, so that every word counts once in the loss."),
    Mistake("special tokens labelled", "Special tokens and padding (word id None) get -100: they are no word and "
            "carry no loss."),
]


@exercise("10.2", "word labels to sub-token labels", mistakes=ALIGN_MISTAKES, hint=(
    "Go through word_ids, remembering the previous one. A None gives -100; a word id different from the "
    "previous one is the start of a word and gets that word's label; a repeat of the previous id is a "
    "continuation and gets -100."))
def align(answer) -> None:
    from helpers.tagging import align_labels

    rng = random.Random(1)
    cases = list(ALIGN_CASES)
    for _ in range(100):
        pieces = [rng.choice([1, 1, 1, 2, 3]) for _ in range(rng.randint(1, 8))]
        word_ids = [None] + [w for w, k in enumerate(pieces) for _ in range(k)] + [None] * rng.randint(1, 4)
        cases.append(([rng.randrange(5) for _ in pieces], word_ids))
    for word_labels, word_ids in cases:
        want = align_labels(word_labels, word_ids)
        got = answer(list(word_labels), list(word_ids))
        try:
            got = [int(x) for x in got]
        except (TypeError, ValueError):
            raise CheckFailed(f"Return a list of ints, one per sub-token; got {got!r}.") from None
        if got == want:
            continue
        if len(got) != len(want):
            raise CheckFailed(f"word_ids has {len(word_ids)} sub-tokens, you returned {len(got)} labels. "
                              "Return one label per sub-token, padding included.")
        j = next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)
        detail = (f"For word_labels={word_labels}, word_ids={word_ids}:\n  yours:    {got}\n  expected: {want}\n"
                  f"(first difference at position {j})")
        if word_ids[j] is None:
            raise blame("special tokens labelled", detail)
        if want[j] == -100:
            raise blame("every sub-token labelled", detail)
        raise CheckFailed(detail + "\nHint: the first sub-token of word w gets word_labels[w].")


SCORE_CASES = [
    # (gold, pred): hand-countable
    ([["B-PER", "I-PER", "O", "B-ORG"]], [["B-PER", "I-PER", "O", "B-ORG"]]),  # perfect
    ([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]]),  # wrong end: 0 TP, 1 FP, 1 FN
    ([["B-PER", "O", "B-ORG"]], [["B-ORG", "O", "B-ORG"]]),  # wrong type
    ([["B-PER", "I-PER"], ["O", "B-ORG"]], [["O", "O"], ["O", "O"]]),  # nothing predicted: P is 0
    ([["O", "O"]], [["B-PER", "O"]]),  # no gold entity: R is 0
    ([["B-PER", "I-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "I-ORG", "O"]],
     [["B-PER", "I-PER", "I-PER", "O", "O"], ["B-ORG", "I-ORG", "B-PER"]]),  # P 2/3, R 2/3
]


SCORE_MISTAKES = [
    Mistake("tokens counted, not entities", "Count entities, not tags: a predicted entity is correct only when "
            "a gold entity has the same type, start and end, so half an entity earns nothing."),
    Mistake("the end not compared", "An entity with the right type and start but the wrong end is a mistake "
            "(one false positive and one false negative): compare the whole (type, start, end)."),
]


@exercise("10.3", "entity-level precision, recall and F1", mistakes=SCORE_MISTAKES, hint=(
    "Turn the gold tags and the predicted tags of each sentence into sets of (type, start, end) entities "
    "(exercise 10.1). Correct = the size of their intersection, summed over sentences; precision divides it by "
    "the number predicted, recall by the number of gold entities, and an undefined ratio counts as 0."))
def scores(answer) -> None:
    from helpers.bio import entity_scores

    rng = random.Random(2)
    cases = list(SCORE_CASES)
    for _ in range(30):
        gold = _random_tags(rng, 6)
        pred = [[t if rng.random() < 0.7 else rng.choice(TAGS) for t in sent] for sent in gold]
        cases.append((gold, pred))
    for gold, pred in cases:
        s = entity_scores(gold, pred)
        want = (s["precision"], s["recall"], s["f1"])
        got = answer([list(g) for g in gold], [list(p) for p in pred])
        if not (isinstance(got, (tuple, list)) and len(got) == 3):
            raise CheckFailed(f"Return a tuple (precision, recall, f1), got {got!r}.")
        if not all(isinstance(x, (int, float)) and math.isclose(x, w, abs_tol=1e-9) for x, w in zip(got, want)):
            detail = (f"For gold {gold} and predictions {pred}: expected precision, recall, F1 = "
                      f"({want[0]:.3f}, {want[1]:.3f}, {want[2]:.3f}) from {s['tp']} correct of {s['predicted']} "
                      f"predicted and {s['gold']} gold entities; you returned {tuple(got)}.")
            if all(math.isclose(x, w, abs_tol=1e-9) for x, w in zip(got, _token_level(gold, pred))):
                raise blame("tokens counted, not entities", detail)
            if all(math.isclose(x, w, abs_tol=1e-9) for x, w in zip(got, _start_level(gold, pred))):
                raise blame("the end not compared", detail)
            raise CheckFailed(detail + "\nHint: a predicted entity is correct only when a gold entity has the same "
                                       "type, start and end; with nothing predicted (or no gold entity) the "
                                       "undefined ratio is 0.")


def _start_level(gold, pred):
    """Entity scores that match (type, start) only, the mistake of ignoring where an entity ends."""
    from helpers.bio import bio_spans

    tp = n_pred = n_gold = 0
    for g, p in zip(gold, pred):
        gs, ps = {s[:2] for s in bio_spans(g)}, {s[:2] for s in bio_spans(p)}
        tp, n_pred, n_gold = tp + len(gs & ps), n_pred + len(ps), n_gold + len(gs)
    prec, rec = tp / n_pred if n_pred else 0.0, tp / n_gold if n_gold else 0.0
    return prec, rec, 2 * prec * rec / (prec + rec) if prec + rec else 0.0


def _token_level(gold, pred):
    """Precision, recall and F1 counted over non-O tags, the mistake 10.3 teaches to avoid."""
    pairs = [(g, p) for gs, ps in zip(gold, pred) for g, p in zip(gs, ps)]
    tp, n_pred, n_gold = (sum(g == p != "O" for g, p in pairs), sum(p != "O" for _, p in pairs),
                          sum(g != "O" for g, _ in pairs))
    prec, rec = tp / n_pred if n_pred else 0.0, tp / n_gold if n_gold else 0.0
    return prec, rec, 2 * prec * rec / (prec + rec) if prec + rec else 0.0


FORWARD_MISTAKES = [
    Mistake("max instead of logsumexp", "That is the score of the best path (Viterbi, a max); log Z adds up "
            "ALL paths, so combine the previous scores with logsumexp."),
    Mistake("the start/end transition forgotten", "The first word's scores include start[tag], and the final "
            "combination adds end[tag] before the last logsumexp."),
    Mistake("exp overflows", "With large scores exp() overflows to inf: stay in log space (logsumexp) the "
            "whole way through."),
]


@exercise("10.4", "the forward algorithm: log Z of a CRF", mistakes=FORWARD_MISTAKES, hint=(
    "Keep alpha, one number per tag: the log of the summed scores of all tag paths for the words so far that "
    "end in that tag. It starts from the first word's emission plus the start score. Each next word combines, "
    "for every new tag, all previous tags' alpha plus the transition into the new tag (a logsumexp over the "
    "previous tag), then adds the new word's emission. At the end add the end scores and take one more "
    "logsumexp."))
def forward_algorithm(answer) -> None:
    """answer(emissions (T, L), start (L,), transitions (L, L), end (L,)) -> log Z, a 0-d tensor."""
    import itertools

    import torch

    from helpers.crf import CRF

    g = torch.Generator().manual_seed(4)
    cases = [(n, L, 1.0) for n, L in [(1, 3), (2, 2), (3, 3), (5, 4), (8, 5)]] + [(6, 4, 300.0)]
    for n, L, scale in cases:
        crf = CRF(L)
        with torch.no_grad():
            for p in crf.parameters():
                p.copy_(torch.randn(p.shape, generator=g))
        emissions = torch.randn(n, L, generator=g) * scale
        want = crf.log_partition(emissions[None])[0]
        got = answer(emissions.clone(), crf.start.detach().clone(), crf.transitions.detach().clone(),
                     crf.end.detach().clone())
        if not isinstance(got, torch.Tensor):
            got = torch.tensor(float(got))
        if got.numel() != 1:
            raise CheckFailed(f"Return one number, log Z of the sentence; got a tensor of shape {tuple(got.shape)}.")
        if torch.isclose(got.reshape(()).double(), want.double(), atol=1e-3, rtol=1e-5):
            continue
        paths = list(itertools.product(range(L), repeat=n)) if L ** n <= 5000 else []
        best = max((crf.path_score(emissions[None], torch.tensor([p]))[0].item() for p in paths), default=None)
        no_ends = CRF(L)
        with torch.no_grad():
            no_ends.transitions.copy_(crf.transitions)
        detail = (f"For a sentence of {n} word{'s' if n > 1 else ''} and {L} tags (random scores scaled by {scale:g}) log Z is "
                  f"{want.item():.4f}; you returned {got.reshape(()).item():.4f}.")
        if not torch.isfinite(got).all():
            raise blame("exp overflows", detail)
        if best is not None and abs(got.item() - best) < 1e-3:
            raise blame("max instead of logsumexp", detail)
        if abs(got.item() - (no_ends.log_partition(emissions[None])[0].item())) < 1e-3:
            raise blame("the start/end transition forgotten", detail)
        raise CheckFailed(detail + "\nHint: alpha starts as start + emissions[0]; each next word takes a logsumexp "
                                   "over the previous tag of alpha + transitions, then adds its emissions; finally "
                                   "log Z = logsumexp(alpha + end).")
