"""helpers.qa: SQuAD's scores on hand-computed cases, cloze questions (dropped and counted, never
mislabelled), windows that cover a long context and map answers both ways, span selection."""

import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from _properties import refuses
from _properties import covers
from helpers import data
from helpers import qa
from helpers.cloze import BLANK, Question, questions_from_passage
from helpers.qa import (answer_mentions, best_span, encode_questions, exact_match, most_frequent_entity,
                        normalize_answer, predict_answers, qa_scores, token_f1)


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(data.minilm_dir())


def make_question(context, answer, question="Who? " + BLANK, entities=()):
    return Question(question, context, answer, context.index(answer), "PERSON", list(entities), 0)


# ---- scores -----------------------------------------------------------------------------------


def test_normalisation_and_exact_match():
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert normalize_answer("an apple, a pear") == "apple pear"
    assert exact_match("the Beatles", "Beatles.") == 1.0
    assert exact_match("Beatles band", "Beatles") == 0.0


def test_token_f1_hand_computed():
    # prediction "john smith jr", gold "john smith": common 2, P = 2/3, R = 1, F1 = 0.8
    assert token_f1("John Smith Jr", "John Smith") == pytest.approx(0.8)
    assert token_f1("Paris", "London") == 0.0
    assert token_f1("the", "a") == 1.0  # both normalise to nothing
    assert token_f1("", "Paris") == 0.0
    # repeated tokens count as often as they occur in both: common 1, P = 1/2, R = 1/1
    assert token_f1("new new", "new") == pytest.approx(2 * 0.5 * 1 / 1.5)
    s = qa_scores(["John Smith Jr", "Paris"], [make_question("John Smith sang.", "John Smith"),
                                                make_question("In Paris.", "Paris")])
    assert s["exact_match"] == 50.0 and s["f1"] == pytest.approx(90.0)


# ---- cloze questions --------------------------------------------------------------------------


def test_questions_from_passage_blank_the_entity_and_drop_what_is_not_there():
    sentences = [("Ada Lovelace wrote notes.", [("Ada Lovelace", "PERSON")]),
                 ("Babbage admired Ada Lovelace in London.", [("Babbage", "PERSON"), ("Ada Lovelace", "PERSON"),
                                                              ("London", "GPE")]),
                 ("The Londoners read it.", [])]
    out, dropped = questions_from_passage(sentences, random.Random(0), per_passage=5)
    # London occurs elsewhere only inside "Londoners": dropped and counted, never mislabelled
    assert dropped == 1
    assert {q["answer"] for q in out} == {"Ada Lovelace"}
    for q in out:
        assert BLANK in q["question"] and q["answer"] not in q["question"]
        assert q["context"][q["answer_start"]:q["answer_start"] + len(q["answer"])] == q["answer"]
        assert q["question"].replace(BLANK, q["answer"]) not in q["context"]  # the sentence was removed
    assert len({q["question"] for q in out}) == len(out) <= 2  # one question per removed sentence


def test_baseline_picks_the_most_frequent_entity_of_the_type():
    q = Question("x", "y", "Ann", 0, "PERSON", [("Bob", "PERSON"), ("Ann", "PERSON"), ("Ann", "PERSON"),
                                               ("Rome", "GPE"), ("Rome", "GPE"), ("Rome", "GPE")], 0)
    assert most_frequent_entity(q) == "Ann"
    assert most_frequent_entity(Question("x", "y", "z", 0, "DATE", [("Rome", "GPE")], 0)) == "Rome"
    assert most_frequent_entity(Question("x", "y", "z", 0, "DATE", [], 0)) == ""


# ---- windows and offsets ----------------------------------------------------------------------


def test_long_contexts_are_windowed_never_truncated(tokenizer):
    filler = " ".join(f"word{i}" for i in range(150))
    context = filler + " Then Grace Hopper arrived. " + filler
    q = make_question(context, "Grace Hopper")
    f = encode_questions(tokenizer, [q, make_question("Short text by Alan Turing.", "Alan Turing")],
                         max_length=64, stride=16)
    windows = (f.question_index == 0).nonzero().flatten()
    assert len(windows) > 5 and (f.question_index == 1).sum() == 1
    covered = set()  # every character of the long context lies in some window
    for w in windows:
        for a, b in f.offsets[w].tolist():
            covered.update(range(a, b)) if a >= 0 else None
    assert all(i in covered for i, ch in enumerate(context) if not ch.isspace())
    # the answer's token span, mapped back through the offsets, is the answer; elsewhere [CLS]
    hits = [w for w in windows.tolist() if f.start_positions[w] > 0]
    assert hits and all(f.start_positions[w] == 0 == f.end_positions[w] for w in windows.tolist() if w not in hits)
    for w in hits:
        a, b = f.offsets[w, f.start_positions[w], 0], f.offsets[w, f.end_positions[w], 1]
        assert context[a:b] == "Grace Hopper"


def test_encode_refuses_a_misplaced_answer(tokenizer):
    q = Question("Who? " + BLANK, "Ada wrote.", "Ada", 3, "PERSON", [], 0)
    with pytest.raises(ValueError, match="not at character 3"):
        encode_questions(tokenizer, [q])
    with pytest.raises(ValueError, match="too long"):
        encode_questions(tokenizer, [make_question("Ada wrote.", "Ada", question="word " * 100)], max_length=64, stride=16)
    with pytest.raises(ValueError, match="No questions"):
        encode_questions(tokenizer, [])


# ---- span selection ---------------------------------------------------------------------------


def test_best_span_is_valid_and_best():
    start = torch.tensor([0.0, 1.0, 5.0, 0.0, 0.0])
    end = torch.tensor([0.0, 9.0, 0.0, 2.0, 0.0])
    # the best pair overall (start 2, end 1) ends before it starts: not allowed
    assert best_span(start, end)[:2] == (1, 1)
    assert best_span(start, end, allowed=torch.tensor([False, False, True, True, True]))[:2] == (2, 3)
    # (0, 3) would score 14 but is 4 tokens long
    assert best_span(torch.tensor([5.0, 0, 1, 0]), torch.tensor([-5.0, 0, 0, 9]), max_tokens=2)[:2] == (2, 3)
    torch.manual_seed(0)
    for _ in range(20):  # against brute force
        s, e = torch.randn(7), torch.randn(7)
        want = max(((s[i] + e[j]).item(), i, j) for i in range(7) for j in range(i, min(7, i + 3)))
        got = best_span(s, e, max_tokens=3)
        assert got[:2] == want[1:] and got[2] == pytest.approx(want[0])


def test_predict_answers_takes_the_best_window(tokenizer):
    filler = " ".join(f"word{i}" for i in range(120))
    context = filler + " Grace Hopper arrived."
    qs = [make_question(context, "Grace Hopper")]
    f = encode_questions(tokenizer, qs, max_length=64, stride=16)

    class Oracle(torch.nn.Module):  # puts its start and end scores on the labelled positions
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids, attention_mask, token_type_ids):
            n, T = input_ids.shape
            start, end = torch.zeros(n, T), torch.zeros(n, T)
            start[torch.arange(n), f.start_positions[:n]] = 5
            end[torch.arange(n), f.end_positions[:n]] = 5
            return type("Out", (), {"start_logits": start, "end_logits": end})

    assert predict_answers(Oracle(), f, qs) == ["Grace Hopper"]
    # only entity mentions compete: the oracle's span is not one, the mention "Hopper" is
    qs[0].entities = [("Hopper", "PERSON"), ("word3", "CARDINAL")]
    assert predict_answers(Oracle(), f, qs, entities_only=True) == ["Hopper"]


def test_a_window_with_a_later_mention_of_the_answer_points_at_it(tokenizer):
    """A cloze answer is named at least twice: a window that holds only a later mention is taught that
    mention, never [CLS] ("not here")."""
    filler = " ".join(f"word{i}" for i in range(60))
    context = "Grace Hopper arrived. " + filler + " Later Grace Hopper left."
    q = make_question(context, "Grace Hopper")
    assert [context[a:b] for a, b in answer_mentions(q)] == ["Grace Hopper"] * 2
    f = encode_questions(tokenizer, [q], max_length=48, stride=8)
    assert len(f) > 2
    for w in range(len(f)):
        starts = f.offsets[w, :, 0].tolist()
        holds = [a for a, _ in answer_mentions(q) if a in starts and a + len("Grace Hopper") in f.offsets[w, :, 1].tolist()]
        if holds:  # the first mention inside the window
            a, b = f.offsets[w, f.start_positions[w], 0], f.offsets[w, f.end_positions[w], 1]
            assert (a, context[a:b]) == (holds[0], "Grace Hopper")
        else:
            assert f.start_positions[w] == 0 == f.end_positions[w]
    last = (f.question_index == 0).nonzero().flatten()[-1]
    assert f.start_positions[last] > 0  # the last window holds only the second mention


@covers(qa, "answer_mentions")
@settings(max_examples=20, deadline=None, derandomize=True, database=None)
@given(words=st.lists(st.sampled_from(["Ada", "Adam", "Ada's", "wrote", "and", "Babbage", "xAda"]), min_size=1,
                      max_size=12))
def test_answer_mentions_are_whole_words_of_the_answer(words):
    context = " ".join(words + ["Ada"])
    q = Question("Who? " + BLANK, context, "Ada", len(context) - 3, "PERSON", [], 0)  # the last word
    mentions = answer_mentions(q)
    assert (q.answer_start, q.answer_start + 3) in mentions
    assert all(context[a:b] == "Ada" for a, b in mentions)
    assert len(mentions) == sum(w in ("Ada", "Ada's") for w in words) + 1  # "Adam" and "xAda" are other words
    refuses(lambda: answer_mentions(context), "question")
