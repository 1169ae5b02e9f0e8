"""Summarisation (helpers.summarisation): ACLSum's splits, the cropped source, the two extractive
baselines, the chats, SmolLM2-shaped zero-shot and LoRA runs on the tiny model, and property tests:
valid arguments work, bad ones get the course's own error naming the argument."""

from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from _properties import covers as shared_covers
from _properties import BAD_POSITIVE, FAST, FEW, TALLY, bad_int, one_bad, public_functions, refuses
from helpers import summarisation as S

COVERED: set[str] = set()


def covers(*names):
    """Mark a property test here and in the shared registry (tests/test_properties_coverage.py reads it)."""
    COVERED.update(names)
    return shared_covers(S, *names)


@pytest.fixture(scope="module")
def papers():
    return S.aclsum_papers("val")


@pytest.fixture(scope="module")
def tiny():
    from helpers.llama import load_smollm2

    torch.manual_seed(0)
    return load_smollm2(block_size=512, tiny=True)


def test_the_splits_are_aclsums():
    sizes = {split: len(S.aclsum_papers(split)) for split in S.SPLITS}
    assert sizes == {"train": 100, "val": 50, "test": 100}
    ids = [{p["id"] for p in S.aclsum_papers(split)} for split in S.SPLITS]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])  # no paper in two splits
    assert set(S.aclsum_papers("test")[0]["summary"]) == set(S.ASPECTS)


def test_source_text_crops_the_introduction_first(papers):
    p = papers[0]
    full, cropped = S.source_text(p)
    assert not cropped and all(x in full for s in S.SECTIONS for x in p["sentences"][s])
    n_abstract = len(" ".join(p["sentences"]["abstract"]).split())
    text, cropped = S.source_text(p, max_tokens=n_abstract + 40)
    assert cropped and len(text.split()) <= n_abstract + 40
    assert all(x in text for x in p["sentences"]["abstract"])  # the abstract survives
    assert p["sentences"]["introduction"][-1] not in text  # the introduction went first
    tiny_text, cropped = S.source_text(p, max_tokens=5)  # under one sentence: cut word by word
    assert cropped and 0 < len(tiny_text.split()) <= 5


def test_lead_and_oracle(papers):
    refs = [p["summary"]["outcome"] for p in papers]
    lead = S.rouge_scores([S.lead_k(p, 3) for p in papers], refs)
    oracle_preds = [S.oracle_summary(p, r, 3) for p, r in zip(papers, refs)]
    oracle = S.rouge_scores(oracle_preds, refs)
    assert oracle["rouge_l"] > lead["rouge_l"] > 0.05  # the oracle reads the answer: an upper bound
    assert all(S.lead_k(p, 1) == p["sentences"]["abstract"][0] for p in papers[:5])
    sources = [x for s in S.SECTIONS for x in papers[0]["sentences"][s]]
    assert all(x in sources for x in _split_oracle(oracle_preds[0], sources))


def _split_oracle(text, sources):
    return [x for x in sources if x in text]


def test_chats_put_the_human_summary_last(papers):
    chats = S.summary_chats(papers[:3], "challenge", 200)
    assert [m["role"] for m in chats[0]] == ["system", "user", "assistant"]
    assert chats[1][-1]["content"] == papers[1]["summary"]["challenge"]
    assert S.QUESTIONS["challenge"] in chats[0][1]["content"]


def test_zero_shot_crops_with_a_warning_and_generates(tiny, papers):
    course, _, tok = tiny
    with pytest.warns(UserWarning, match="cropped"):
        out = S.summarise(course, tok, papers[:2], "outcome", max_source_tokens=64, max_new_tokens=5)
    assert len(out) == 2 and all(isinstance(x, str) for x in out)
    ids = S.chat_ids(tok, S.summary_messages(papers[0], "outcome", 64, S.token_counter(tok))[0])
    assert ids.shape[0] == 1 and ids.shape[1] < 64 + 80  # the budget plus the template and the question


def test_lora_trains_on_the_summaries_and_merges_into_the_course_llama(tiny, papers):
    from helpers.llama import Llama

    course, hf, tok = tiny
    before = {k: v.clone() for k, v in hf.state_dict().items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tuned, history = S.lora_summariser(hf, tok, papers[:8], "outcome", max_source_tokens=48, steps=6,
                                           batch_size=4, learning_rate=1e-2, r=4, top_layers=1, block_size=512)
    assert isinstance(tuned, Llama) and len(history["loss"]) == 6
    assert all(torch.equal(before[k], v) for k, v in hf.state_dict().items())  # the base is untouched
    changed = [k for k, v in tuned.state_dict().items() if k in course.state_dict()
               and not torch.equal(v, course.state_dict()[k])]
    assert changed and all(".1." in k for k in changed)  # only the adapted (top) layer moved
    assert S.top_layer_targets(30, 2) == ["layers.28.self_attn.q_proj", "layers.28.self_attn.v_proj",
                                          "layers.29.self_attn.q_proj", "layers.29.self_attn.v_proj"]


# --- properties -------------------------------------------------------------------------------

NOT_A_PAPER = st.one_of(st.text(max_size=4), st.integers(), st.just({}), st.just({"sentences": []}))
ASPECT = st.sampled_from(S.ASPECTS)
BAD_NAME = st.one_of(st.text(max_size=6).filter(lambda x: x not in S.ASPECTS + S.SPLITS), st.integers())


@covers("aclsum_papers")
@FAST
@given(split=st.sampled_from(S.SPLITS), bad=BAD_NAME)
def test_aclsum_papers_properties(split, bad):
    assert all(set(p) >= {"id", "summary", "sentences"} for p in S.aclsum_papers(split)[:3])
    refuses(lambda: S.aclsum_papers(bad), "split")


@covers("source_text", "lead_k", "oracle_summary")
@FAST
@given(budget=st.integers(1, 400), k=st.integers(1, 5), i=st.integers(0, 49),
       bad=one_bad(max_tokens=bad_int(optional=True), k=bad_int()), bad_paper=NOT_A_PAPER)
def test_extractive_properties(papers, budget, k, i, bad, bad_paper):
    p = papers[i]
    text, cropped = S.source_text(p, budget)
    assert len(text.split()) <= budget and cropped == (len(S.source_text(p)[0].split()) > budget)
    lead = S.lead_k(p, k)
    assert lead.startswith(p["sentences"]["abstract"][0])
    oracle = S.oracle_summary(p, p["summary"]["outcome"], k)
    assert len([x for x in S.SECTIONS for s in p["sentences"][x] if s in oracle]) <= k + 2
    name, value = bad
    if name == "max_tokens":
        refuses(lambda: S.source_text(p, value), "max_tokens")
    else:
        refuses(lambda: S.lead_k(p, value), "k")
        refuses(lambda: S.oracle_summary(p, "a summary", value), "k")
    refuses(lambda: S.source_text(bad_paper), "paper")
    refuses(lambda: S.lead_k(bad_paper), "paper")
    refuses(lambda: S.oracle_summary(p, "", 2), "reference")


@covers("summary_messages", "summary_chats", "token_counter", "chat_ids", "top_layer_targets")
@FAST
@given(aspect=ASPECT, budget=st.integers(8, 300), bad=BAD_NAME, bad_n=bad_int())
def test_chat_properties(papers, tiny, aspect, budget, bad, bad_n):
    _, _, tok = tiny
    count = S.token_counter(tok)
    messages, _ = S.summary_messages(papers[0], aspect, budget, count)
    assert count(messages[1]["content"]) <= budget + 40  # the source's budget plus the question
    chats = S.summary_chats(papers[:2], aspect, budget, count)
    assert chats[0][:2] == messages and chats[0][2]["content"] == papers[0]["summary"][aspect]
    ids = S.chat_ids(tok, messages, answer="An answer.")
    assert ids.shape[1] > S.chat_ids(tok, messages).shape[1]
    assert len(S.top_layer_targets(10, 3)) == 6
    refuses(lambda: S.summary_messages(papers[0], bad), "aspect")
    refuses(lambda: S.summary_chats(papers[:1], bad), "aspect")
    refuses(lambda: S.summary_chats([], aspect), "papers")
    refuses(lambda: S.token_counter("not a tokenizer"), "tokenizer")
    refuses(lambda: S.chat_ids(tok, messages, answer=""), "answer")
    refuses(lambda: S.top_layer_targets(bad_n, 1), "n_layer")
    refuses(lambda: S.top_layer_targets(4, 5), "top")


@covers("summarise", "lora_summariser")
@FEW
@given(aspect=ASPECT, bad=one_bad(max_source_tokens=bad_int(), max_new_tokens=bad_int()), bad_lr=BAD_POSITIVE)
def test_generation_properties(papers, tiny, aspect, bad, bad_lr):
    course, hf, tok = tiny
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = S.summarise(course, tok, papers[:1], aspect, max_source_tokens=32, max_new_tokens=3)
    assert len(out) == 1
    name, value = bad
    refuses(lambda: S.summarise(course, tok, papers[:1], aspect, **{name: value}), name)
    refuses(lambda: S.summarise(course, tok, papers[0], aspect), "papers")
    refuses(lambda: S.lora_summariser(hf, tok, papers[:2], aspect, learning_rate=bad_lr), "learning_rate")
    refuses(lambda: S.lora_summariser(hf, tok, papers[:2], aspect, steps=value if name == "max_new_tokens"
                                      else 0), "steps")


@covers("rouge_scores")
@FAST
@given(words=st.lists(st.sampled_from("the model improves results on three tasks".split()), min_size=1, max_size=8))
def test_rouge_scores_properties(words):
    text = " ".join(words)
    assert S.rouge_scores([text], [text])["rouge_l"] == pytest.approx(1.0)
    refuses(lambda: S.rouge_scores(text, [text]), "predictions")
    refuses(lambda: S.rouge_scores([text], [text, text]), "references", "predictions")


def test_every_public_function_has_a_property_test():
    missing = public_functions(S, {}) - COVERED
    assert not missing, f"public names of helpers.summarisation without a property test: {sorted(missing)}"


def test_zz_bad_inputs_all_got_a_clear_error():
    assert TALLY["tried"] == TALLY["clear"] > 0
