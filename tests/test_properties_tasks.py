"""Property-based tests of the task modules: finetuning, text_batches, distillation, bio, tagging, crf, cloze, qa. Valid arguments
drawn by hypothesis work; bad ones get the course's own error naming the argument (tests/_properties.py).
The functions that load MiniLM (token_classifier, crf_tagger, span_model) or train it (fine_tune_tagger,
fine_tune_qa, distil) are tried here with bad arguments, which must be refused before anything loads or
trains; their valid runs are in tests/test_tagging.py, test_qa.py and test_distillation.py."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from _properties import (BAD_BOOL, BAD_POSITIVE, BAD_PROBABILITY, BAD_STR_LIST, FAST, FEW, TALLY, bad_int, bad_real,
                         covers, one_bad, refuses)
from helpers import bio as BIO
from helpers import cloze as CZ
from helpers import crf as CRF
from helpers import data
from helpers import distillation as DI
from helpers import finetuning as FT
from helpers import qa as QA
from helpers import tagging as TG
from helpers import text_batches as TB
from helpers.data import LabelledTexts
from helpers.encoder import Encoder, EncoderConfig

torch.set_num_threads(1)
LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"]
TAGS = st.lists(st.sampled_from(LABELS), min_size=1, max_size=6)
SENTENCE = st.lists(st.sampled_from(["Tom", "Hanks", "went", "to", "Acme", "Corp", "today"]), min_size=1, max_size=6)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(data.minilm_dir())


def tiny_classifier(num_labels=2):
    torch.manual_seed(0)
    return FT.SequenceClassifier(Encoder(EncoderConfig(vocab_size=30522, hidden_size=8, num_hidden_layers=1,
                                                       num_attention_heads=2, intermediate_size=8,
                                                       max_position_embeddings=64)), num_labels=num_labels)


TEXTS = st.lists(st.sampled_from(["a great film", "dull", "the plot was thin", "loved it"]), min_size=2, max_size=5)


# --- finetuning ---------------------------------------------------------------------------------


@covers(FT, "SequenceClassifier", "encoder_hidden_size", "freeze", "unfreeze", "count_parameters", "add_lora")
@FEW
@given(labels=st.integers(2, 4), bad=one_bad(num_labels=bad_int(2), pooling=st.text(max_size=4),
                                             dropout=BAD_PROBABILITY, hidden_size=bad_int(1, optional=True)))
def test_classifier_parts(labels, bad):
    model = tiny_classifier(labels)
    assert FT.encoder_hidden_size(model.encoder) == 8
    trainable, total = FT.count_parameters(FT.freeze(model.encoder) and model)
    assert trainable == 8 * labels + labels and FT.count_parameters(FT.unfreeze(model))[0] == total
    name, value = bad
    if not (name == "pooling" and value in ("mean", "cls")):
        refuses(lambda: FT.SequenceClassifier(**{"encoder": model.encoder, name: value}), name)
    refuses(lambda: FT.encoder_hidden_size(torch.nn.Linear(2, 2)), "hidden_size")
    for fn in (FT.freeze, FT.unfreeze, FT.count_parameters):
        refuses(lambda: fn("model"), "module", "model")
    assert FT.count_parameters(FT.add_lora(tiny_classifier(labels), r=2))[0] > 0
    refuses(lambda: FT.add_lora(model, r=0), "r")
    refuses(lambda: FT.add_lora(model, dropout=2.0), "dropout")


@covers(TB, "check_labels", "encode", "Encoded", "trim_batch", "length_batches")
@covers(FT, "classification_metrics")
@FAST
@given(texts=TEXTS, bad=bad_int(1), bad_labels=st.one_of(st.just([0.5, 1.0]), st.just([-1, 0]), st.just("01")))
def test_encoding_and_batching(tokenizer, texts, bad, bad_labels):
    labels = [i % 2 for i in range(len(texts))]
    enc = TB.encode(tokenizer, tuple(texts), np.array(labels), 2)
    assert isinstance(enc, TB.Encoded) and enc.input_ids.shape[0] == len(texts)
    refuses(lambda: TB.encode(tokenizer, " ".join(texts), labels, 2), "texts")
    refuses(lambda: TB.encode(tokenizer, texts, labels, 2, max_length=bad), "max_length")
    assert TB.check_labels(np.array(labels), 2).tolist() == labels
    refuses(lambda: TB.check_labels(bad_labels, 2), "labels")
    refuses(lambda: TB.check_labels([], 2), "empty")
    ids, mask = TB.trim_batch(enc.input_ids, enc.attention_mask)
    assert ids.shape[1] == int(enc.attention_mask.sum(1).max())
    refuses(lambda: TB.trim_batch(enc.input_ids, enc.attention_mask[:, :1]), "attention_mask")
    refuses(lambda: TB.trim_batch(enc.input_ids.tolist(), enc.attention_mask), "input_ids")
    batches = TB.length_batches(enc.attention_mask.sum(1), 2, torch.Generator().manual_seed(0))
    assert sorted(torch.cat(batches).tolist()) == list(range(len(texts)))
    refuses(lambda: TB.length_batches(enc.attention_mask.sum(1), bad), "batch_size")
    m = FT.classification_metrics(labels, labels)
    assert m["accuracy"] == 1.0
    refuses(lambda: FT.classification_metrics(labels, labels[:-1]), "y_pred")
    refuses(lambda: FT.classification_metrics("01", "01"), "y_true")


@covers(FT, "predict_logits", "predict", "predict_proba", "sentence_vectors", "evaluate", "tuned_logistic_regression")
@FEW
@given(texts=TEXTS, bad=bad_int(1), bad_texts=BAD_STR_LIST)
def test_prediction(tokenizer, texts, bad, bad_texts):
    model = tiny_classifier()
    enc = TB.encode(tokenizer, texts, [i % 2 for i in range(len(texts))], 2, split="evaluation")
    assert FT.predict_logits(model, enc).shape == (len(texts), 2) and len(FT.predict(model, enc)) == len(texts)
    p = FT.predict_proba(model, tokenizer, texts)
    assert np.allclose(p.sum(1), 1, atol=1e-5)
    refuses(lambda: FT.predict_proba(model, tokenizer, bad_texts), "texts")
    refuses(lambda: FT.predict_logits(model, enc, batch_size=bad), "batch_size")
    refuses(lambda: FT.predict(model, enc.input_ids), "batch")
    assert FT.sentence_vectors(model.encoder, tokenizer, texts).shape == (len(texts), 8)
    refuses(lambda: FT.sentence_vectors(model.encoder, tokenizer, bad_texts), "texts")
    split = LabelledTexts(texts, np.array([i % 2 for i in range(len(texts))]))
    assert 0 <= FT.evaluate(model, tokenizer, split)["accuracy"] <= 1
    refuses(lambda: FT.evaluate(model, tokenizer, texts), "data")
    x = np.random.default_rng(0).normal(size=(8, 3))
    y = np.array([0, 1] * 4)
    assert FT.tuned_logistic_regression(x, y, x, y, c_grid=(1.0,)).score(x, y) >= 0.5
    refuses(lambda: FT.tuned_logistic_regression(x[:0], y[:0], x, y), "training split")
    refuses(lambda: FT.tuned_logistic_regression(x, y, x, y, c_grid=()), "c_grid")


@covers(FT, "fine_tune", "History", "check_saved_model_dir")
@FEW
@given(bad=one_bad(epochs=bad_int(1), batch_size=bad_int(1), lr=BAD_POSITIVE, weight_decay=bad_real(0.0),
                   max_length=bad_int(1), patience=bad_int(0), max_steps=bad_int(1, optional=True),
                   seed=bad_int(0), group_by_length=BAD_BOOL))
def test_fine_tune(tokenizer, tmp_path, bad):
    train = LabelledTexts(["good film", "bad film"] * 4, np.array([1, 0] * 4))
    model = tiny_classifier()
    history = FT.fine_tune(model, tokenizer, train, train, epochs=1, batch_size=4, device="cpu")
    assert isinstance(history, FT.History) and len(history.train_loss) == 1
    name, value = bad
    refuses(lambda: FT.fine_tune(model, tokenizer, train, train, **{name: value}), name)
    refuses(lambda: FT.fine_tune(model, tokenizer, train.texts, train), "train")
    refuses(lambda: FT.check_saved_model_dir(tmp_path / "none"), "saved model folder")
    refuses(lambda: FT.check_saved_model_dir(tmp_path), "missing")


# --- distillation -------------------------------------------------------------------------------


@covers(DI, "distillation_loss", "quantize", "footprint", "ms_per_sentence", "shrink", "distil")
@FEW
@given(B=st.integers(1, 4), K=st.integers(2, 4), bad=one_bad(temperature=BAD_POSITIVE, alpha=BAD_PROBABILITY))
def test_distillation(tokenizer, B, K, bad):
    s, t = torch.randn(B, K), torch.randn(B, K)
    loss = DI.distillation_loss(s, t, torch.zeros(B, dtype=torch.long))
    assert math.isfinite(loss.item())
    assert DI.distillation_loss(t, t, None, alpha=1.0).item() == pytest.approx(0, abs=1e-5)
    name, value = bad
    refuses(lambda: DI.distillation_loss(s, t, torch.zeros(B, dtype=torch.long), **{name: value}), name)
    refuses(lambda: DI.distillation_loss(s, t[:, :-1], None, alpha=1.0), "teacher logits")
    refuses(lambda: DI.distillation_loss(s.long(), t, None, alpha=1.0), "student_logits")
    model = tiny_classifier()
    q = DI.quantize(model)
    assert DI.footprint(q)["parameters"] > 0 and DI.footprint(model)["megabytes"] > 0
    refuses(lambda: DI.quantize("model"), "model")
    refuses(lambda: DI.footprint(None), "model")
    enc = TB.encode(tokenizer, ["a film", "dull"], [0, 1], 2)
    assert DI.ms_per_sentence(model, enc, batch_size=2) > 0
    refuses(lambda: DI.ms_per_sentence(model, enc, batch_size=0), "batch_size")
    refuses(lambda: DI.ms_per_sentence(model, enc.input_ids), "batch")
    refuses(lambda: DI.shrink(model, n_layers=0), "n_layers")
    refuses(lambda: DI.shrink(model), "encoder")  # the course's encoder has no encoder.layer to cut
    refuses(lambda: DI.distil(model, enc.input_ids, None, enc), "train")
    refuses(lambda: DI.distil(model, enc, None, enc, epochs=0), "epochs")


# --- tagging ------------------------------------------------------------------------------------


@covers(BIO, "label_list", "check_tagged", "bio_spans", "format_entities", "entity_scores", "MostFrequentTag")
@covers(TG, "align_labels")
@FAST
@given(tags=TAGS, bad=BAD_STR_LIST)
def test_bio_tags(tags, bad):
    assert BIO.label_list(["PER", "ORG"]) == LABELS
    refuses(lambda: BIO.label_list("PER"), "types")
    words = [f"w{i}" for i in range(len(tags))]
    BIO.check_tagged([words], [tags], LABELS)
    refuses(lambda: BIO.check_tagged([words], [tags + ["O"]]), "tags")
    refuses(lambda: BIO.check_tagged(words, tags), "words", "lists")
    refuses(lambda: BIO.check_tagged([words], [["X-PER"] * len(tags)]), "BIO tag", "label set")
    spans = BIO.bio_spans(tags)
    assert all(0 <= a < b <= len(tags) for _, a, b in spans)
    refuses(lambda: BIO.bio_spans(" ".join(tags)), "tags")
    assert isinstance(BIO.format_entities(words, tags), str)
    refuses(lambda: BIO.format_entities(words, bad), "tags")
    assert TG.align_labels([3, 4], [None, 0, 0, 1, None]) == [-100, 3, -100, 4, -100]
    refuses(lambda: TG.align_labels([3], [None, 0, 1]), "word_ids")
    refuses(lambda: TG.align_labels("34", [0, 1]), "word_labels")
    assert BIO.entity_scores([tags], [tags])["f1"] == (1.0 if spans else 0.0)
    refuses(lambda: BIO.entity_scores([tags], [tags[:-1]] if len(tags) > 1 else [[]]), "tags")
    baseline = BIO.MostFrequentTag().fit([words], [tags])
    assert baseline.predict([words]) == [tags] or len(set(words)) < len(words)
    refuses(lambda: BIO.MostFrequentTag().fit(" ".join(words), tags), "words")


@covers(TG, "encode_tagged", "TaggedBatch", "first_subtokens", "pack_words", "predict_tags", "tagging_loss",
        "CRFTagger")
@FEW
@given(sentence=SENTENCE, bad=bad_int(1))
def test_sub_tokens_and_prediction(tokenizer, sentence, bad):
    tags = ["O"] * len(sentence)
    batch = TG.encode_tagged(tokenizer, [sentence], [tags], LABELS)
    assert isinstance(batch, TG.TaggedBatch) and len(batch) == 1
    refuses(lambda: TG.encode_tagged(tokenizer, [sentence], [tags]), "label set")
    refuses(lambda: TG.encode_tagged(tokenizer, " ".join(sentence)), "words")
    refuses(lambda: TG.encode_tagged(tokenizer, [sentence], max_length=bad), "max_length")
    first = TG.first_subtokens(batch.word_ids)
    assert int(first.sum()) == len(sentence)
    refuses(lambda: TG.first_subtokens(batch.word_ids[0]), "word_ids")
    scores = torch.randn(1, first.shape[1], len(LABELS))
    words, mask = TG.pack_words(scores, first)
    assert words.shape == (1, len(sentence), len(LABELS)) and mask.all()
    refuses(lambda: TG.pack_words(scores, first[:, :-1]), "keep")

    class Emitter(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(30522, len(LABELS))

        def forward(self, input_ids, attention_mask):
            return self.emb(input_ids)

    for model in (Emitter(), TG.CRFTagger(Emitter(), LABELS)):
        assert [len(t) for t in TG.predict_tags(model, batch, LABELS)] == [len(sentence)]
        loss, _ = TG.tagging_loss(model, (batch.input_ids, batch.attention_mask, batch.labels))
        assert math.isfinite(loss.item())
        refuses(lambda: TG.predict_tags(model, batch, LABELS, batch_size=bad), "batch_size")
        refuses(lambda: TG.predict_tags(model, [sentence], LABELS), "batch")
        refuses(lambda: TG.tagging_loss(model, batch), "batch")
    refuses(lambda: TG.CRFTagger(Emitter(), "O B-PER"), "labels")
    refuses(lambda: TG.CRFTagger("emitter", LABELS), "emitter")


@covers(TG, "token_classifier", "crf_tagger", "fine_tune_tagger")
@FAST
@given(bad=one_bad(steps=bad_int(1), batch_size=bad_int(1), lr=BAD_POSITIVE, eval_iters=bad_int(1),
                   crf_lr_scale=BAD_POSITIVE, progress=BAD_BOOL))
def test_tagger_training_checks_first(tokenizer, bad):
    batch = TG.encode_tagged(tokenizer, [["Tom", "went"]], [["B-PER", "O"]], LABELS)
    name, value = bad
    refuses(lambda: TG.fine_tune_tagger(torch.nn.Linear(1, 1), batch, batch, **{name: value}), name)
    refuses(lambda: TG.fine_tune_tagger(torch.nn.Linear(1, 1), [["Tom"]], batch), "train")
    refuses(lambda: TG.token_classifier("PER"), "labels")
    refuses(lambda: TG.crf_tagger(LABELS, constrain="yes"), "constrain")


# --- crf ----------------------------------------------------------------------------------------


@covers(CRF, "CRF", "bio_allowed", "invalid_transitions")
@FAST
@given(B=st.integers(1, 3), W=st.integers(1, 5), bad=bad_int(1))
def test_crf(B, W, bad):
    crf = CRF.CRF.for_bio(LABELS)
    emissions = torch.randn(B, W, len(LABELS))
    paths = crf.decode(emissions)
    assert [len(p) for p in paths] == [W] * B
    assert CRF.invalid_transitions([[LABELS[i] for i in p] for p in paths]) == 0
    tags = torch.tensor(paths)
    assert (crf.log_likelihood(emissions, tags) <= 1e-4).all()
    refuses(lambda: CRF.CRF(bad), "num_tags")
    refuses(lambda: crf.decode(emissions[..., :-1]), "emissions")
    refuses(lambda: crf.loss(emissions, tags[:, :-1] if W > 1 else tags[None]), "tags")
    refuses(lambda: crf.decode(emissions, torch.zeros(B, W + 1, dtype=torch.bool)), "mask")
    start, trans = CRF.bio_allowed(LABELS)
    assert not start[2] and not trans[0, 2] and trans[1, 2]
    refuses(lambda: CRF.bio_allowed(["O", "X-PER"]), "BIO label")
    refuses(lambda: CRF.bio_allowed("O"), "labels")
    refuses(lambda: CRF.invalid_transitions(["O", "I-PER"]), "tag_sequences")


# --- qa -----------------------------------------------------------------------------------------


def question(context="Ann met Bob. Bob left.", answer="Bob"):
    return CZ.Question("___ waved.", context, answer, context.index(answer), "PERSON", [("Bob", "PERSON")], 0)


@covers(CZ, "Question", "questions_from_passage")
@covers(QA, "normalize_answer", "exact_match", "token_f1", "qa_scores", "most_frequent_entity", "entity_mentions")
@FAST
@given(text=st.text(max_size=20), gold=st.text(max_size=20), bad=st.one_of(st.integers(), st.none(), st.just(["a"])))
def test_qa_scores(text, gold, bad):
    assert QA.exact_match(text, text) == 1.0 and 0 <= QA.token_f1(text, gold) <= 1
    assert QA.normalize_answer("The  Cat!") == "cat"
    refuses(lambda: QA.normalize_answer(bad), "text")
    refuses(lambda: QA.exact_match(bad, gold), "prediction")
    refuses(lambda: QA.token_f1(text, bad), "gold")
    q = question()
    assert QA.qa_scores(["Bob"], [q])["exact_match"] == 100.0
    refuses(lambda: QA.qa_scores("Bob", [q]), "predictions")
    refuses(lambda: QA.qa_scores(["Bob", "Ann"], [q]), "predictions")
    assert QA.most_frequent_entity(q) == "Bob" and QA.entity_mentions(q) == [(8, 11), (13, 16)]
    refuses(lambda: QA.most_frequent_entity("Bob"), "question")
    refuses(lambda: QA.entity_mentions(None), "question")
    sentences = [("Ann met Bob.", [("Ann", "PERSON"), ("Bob", "PERSON")]), ("Bob left.", [("Bob", "PERSON")])]
    out, dropped = CZ.questions_from_passage(sentences, random.Random(0))
    assert all(o["answer"] in o["context"] for o in out) and dropped >= 0
    refuses(lambda: CZ.questions_from_passage(sentences, 0), "rng")
    refuses(lambda: CZ.questions_from_passage(sentences, random.Random(0), per_passage=0), "per_passage")


@covers(QA, "best_span", "encode_questions", "QAFeatures", "predict_answers", "span_loss")
@FEW
@given(T=st.integers(1, 12), k=st.integers(1, 5), bad=bad_int(1))
def test_spans_and_windows(tokenizer, T, k, bad):
    s, e = torch.randn(T), torch.randn(T)
    a, b, score = QA.best_span(s, e, k)
    assert 0 <= a <= b < min(T, a + k) and score == pytest.approx(float(s[a] + e[b]), abs=1e-5)
    refuses(lambda: QA.best_span(s, e, bad), "max_tokens")
    refuses(lambda: QA.best_span(s, e[:-1] if T > 1 else e[None]), "end_logits")
    refuses(lambda: QA.best_span(s[None], e), "start_logits")
    q = question()
    feats = QA.encode_questions(tokenizer, [q], max_length=32, stride=4)
    assert isinstance(feats, QA.QAFeatures) and len(feats) >= 1
    refuses(lambda: QA.encode_questions(tokenizer, [q], max_length=bad), "max_length")
    refuses(lambda: QA.encode_questions(tokenizer, ["a question"]), "questions")
    refuses(lambda: QA.encode_questions(tokenizer, [q], max_length=32, stride=30), "stride")

    class Spans(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(30522, 2)

        def forward(self, input_ids, attention_mask=None, token_type_ids=None):
            out = self.emb(input_ids)
            return type("Out", (), {"start_logits": out[..., 0], "end_logits": out[..., 1]})()

    model = Spans()
    assert len(QA.predict_answers(model, feats, [q])) == 1
    refuses(lambda: QA.predict_answers(model, [q], [q]), "features")
    refuses(lambda: QA.predict_answers(model, feats, [q], batch_size=bad), "batch_size")
    batch = (feats.input_ids, feats.attention_mask, feats.token_type_ids, feats.start_positions, feats.end_positions)
    assert math.isfinite(QA.span_loss(model, batch)[0].item())
    refuses(lambda: QA.span_loss(model, batch[:3]), "batch")


@covers(CZ, "cloze_questions")
@covers(QA, "span_model", "fine_tune_qa")
@FAST
@given(bad=one_bad(n_articles=bad_int(1), max_chars=bad_int(1), sentences_per_passage=bad_int(1),
                   per_passage=bad_int(1), seed=bad_int(0), progress=BAD_BOOL))
def test_qa_data_and_training_check_first(bad):
    name, value = bad
    refuses(lambda: CZ.cloze_questions(**{name: value}), name)
    refuses(lambda: CZ.cloze_questions(fractions=(0.5, 0.5)), "fractions")
    refuses(lambda: QA.span_model(seed=-1), "seed")
    refuses(lambda: QA.fine_tune_qa(torch.nn.Linear(1, 1), [], []), "train")


def test_zz_bad_inputs_all_got_a_clear_error():
    """Runs last in this file: every bad input tried above got the course's own error."""
    print(f"\nbad inputs tried: {TALLY['tried']}, clear errors: {TALLY['clear']}")
    assert TALLY["tried"] == TALLY["clear"] > 0
