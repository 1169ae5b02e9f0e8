"""helpers.tagging: spans and entity-level scores against hand-counted cases, sub-token alignment on the
real MiniLM tokenizer, clear errors for bad tags, and a tiny tagger that learns a planted rule."""

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

from helpers import data
from helpers.bio import MostFrequentTag, bio_spans, check_tagged, entity_scores, format_entities, label_list
from helpers.crf import invalid_transitions
from helpers.tagging import CRFTagger, align_labels, encode_tagged, fine_tune_tagger, pack_words, predict_tags


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread; on a busy machine two threads mostly wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(data.minilm_dir())


# ---- spans ----------------------------------------------------------------------------------


@pytest.mark.parametrize("tags, spans", [
    ([], []),
    (["O", "O"], []),
    (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 2), ("LOC", 3, 4)]),
    (["B-PER", "I-PER"], [("PER", 0, 2)]),  # an entity at the very end is closed
    (["O", "I-PER", "I-PER", "O"], [("PER", 1, 3)]),  # I- without B- still starts an entity
    (["B-PER", "B-PER", "I-PER"], [("PER", 0, 1), ("PER", 1, 3)]),  # adjacent entities of one type
    (["B-PER", "I-ORG", "I-ORG"], [("PER", 0, 1), ("ORG", 1, 3)]),  # a change of type starts a new one
    (["I-ORG", "B-ORG", "O", "I-ORG"], [("ORG", 0, 1), ("ORG", 1, 2), ("ORG", 3, 4)]),
])
def test_bio_spans(tags, spans):
    assert bio_spans(tags) == spans


def test_format_entities():
    words = "Tom Hanks met Steven Spielberg in Paris".split()
    tags = ["B-PERSON", "I-PERSON", "O", "B-PERSON", "I-PERSON", "O", "B-GPE"]
    assert format_entities(words, tags) == "[Tom Hanks](PERSON) met [Steven Spielberg](PERSON) in [Paris](GPE)"


# ---- entity-level scores ------------------------------------------------------------------------


def test_entity_scores_hand_counted():
    gold = [["B-PER", "I-PER", "O", "B-ORG", "O"],
            ["B-LOC", "O", "B-PER", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-PER", "O"],  # PER right; ORG found as PER: 1 FP (PER) + 1 FN (ORG)
            ["B-LOC", "I-LOC", "O", "O"]]  # LOC with the wrong end: 1 FP + 1 FN; PER missed: 1 FN
    s = entity_scores(gold, pred)
    # gold: PER x2, ORG, LOC = 4; predicted: PER x2, LOC = 3; true positives: 1 (the first PER)
    assert (s["tp"], s["predicted"], s["gold"]) == (1, 3, 4)
    assert s["precision"] == pytest.approx(1 / 3) and s["recall"] == pytest.approx(1 / 4)
    assert s["f1"] == pytest.approx(2 * (1 / 3) * (1 / 4) / (1 / 3 + 1 / 4))
    per = s["per_type"]
    assert set(per) == {"PER", "ORG", "LOC"}
    assert (per["PER"]["precision"], per["PER"]["recall"]) == (0.5, 0.5)
    assert per["ORG"]["gold"] == 1 and per["ORG"]["recall"] == 0 and per["ORG"]["f1"] == 0
    assert per["LOC"]["tp"] == 0 and per["LOC"]["precision"] == 0


def test_entity_scores_perfect_empty_and_i_without_b():
    gold = [["B-PER", "I-PER", "O"], ["O", "O"]]
    assert entity_scores(gold, gold)["f1"] == 1.0
    none = entity_scores(gold, [["O"] * 3, ["O"] * 2])
    assert none["precision"] == 0.0 and none["recall"] == 0.0 and none["f1"] == 0.0
    # I-PER I-PER is the same span as B-PER I-PER: it counts as a match
    assert entity_scores(gold, [["I-PER", "I-PER", "O"], ["O", "O"]])["f1"] == 1.0
    # token accuracy would be 4/5 here; entity F1 is 0: the boundary is wrong
    assert entity_scores(gold, [["B-PER", "O", "O"], ["O", "O"]])["f1"] == 0.0


def test_entity_scores_match_token_counts_only_when_exact():
    gold = [["B-PER", "I-PER", "I-PER"]]
    for pred in (["B-PER", "I-PER", "O"], ["O", "B-PER", "I-PER"], ["B-PER", "B-PER", "I-PER"],
                 ["B-ORG", "I-ORG", "I-ORG"]):
        assert entity_scores(gold, [pred])["tp"] == 0, pred


def test_entity_scores_match_seqeval():
    from seqeval.metrics import f1_score, precision_score, recall_score

    rng = np.random.default_rng(3)
    tags = ["O", "O", "O", "B-PER", "I-PER", "B-ORG", "I-ORG"]
    gold = [list(rng.choice(tags, rng.integers(1, 12))) for _ in range(300)]
    pred = [[t if rng.random() < 0.7 else str(rng.choice(tags)) for t in g] for g in gold]
    s = entity_scores(gold, pred)
    assert s["precision"] == pytest.approx(precision_score(gold, pred))
    assert s["recall"] == pytest.approx(recall_score(gold, pred))
    assert s["f1"] == pytest.approx(f1_score(gold, pred))


# ---- errors ---------------------------------------------------------------------------------------


def test_clear_errors():
    labels = label_list(["PER"])
    assert labels == ["O", "B-PER", "I-PER"]
    with pytest.raises(ValueError, match="3 words but 2 tags"):
        check_tagged([["a", "b", "c"]], [["O", "O"]])
    with pytest.raises(ValueError, match="2 sentences of words but 1"):
        check_tagged([["a"], ["b"]], [["O"]])
    with pytest.raises(ValueError, match=r"not in the label set: \['B-ORG'\]"):
        check_tagged([["a", "b"]], [["B-ORG", "O"]], labels)
    with pytest.raises(ValueError, match="not a BIO tag"):
        check_tagged([["a"]], [["PERSON"]])
    with pytest.raises(ValueError, match="not a BIO tag"):
        bio_spans(["B-"])
    with pytest.raises(ValueError, match="2 words but 1 tags"):
        entity_scores([["O", "O"]], [["O"]])
    with pytest.raises(TypeError, match="single string"):
        label_list("PER")


# ---- alignment ------------------------------------------------------------------------------------


def test_align_labels_first_sub_token_only():
    # [CLS] tom hank ##s directed jaw ##s [SEP] [PAD]
    word_ids = [None, 0, 1, 1, 2, 3, 3, None, None]
    assert align_labels([1, 2, 0, 3], word_ids) == [-100, 1, 2, -100, 0, 3, -100, -100, -100]


def test_encode_tagged_aligns_on_the_real_tokenizer(tokenizer):
    labels = label_list(["PERSON", "WORK_OF_ART"])
    words = [["Tarantino", "directed", "Jaws", "."], ["Hi"]]
    tags = [["B-PERSON", "O", "B-WORK_OF_ART", "O"], ["O"]]
    batch = encode_tagged(tokenizer, words, tags, labels)
    pieces = tokenizer.convert_ids_to_tokens(batch.input_ids[0])
    assert pieces[:3] == ["[CLS]", "tara", "##ntino"]  # tarantino is cut into two sub-tokens
    lab = batch.labels[0].tolist()
    kept = [(p, labels[y]) for p, y in zip(pieces, lab) if y != -100]
    # one label per word, on the word's first sub-token
    assert [p for p, _ in kept] == [tokenizer.tokenize(w)[0] for w in words[0]]
    assert [t for _, t in kept] == tags[0]
    assert lab[2] == -100 and lab[0] == -100
    assert (batch.labels[1] != -100).sum() == 1 and batch.labels[1][batch.attention_mask[1] == 0].eq(-100).all()
    assert batch.n_words == [4, 1] and batch.truncated == 0


def test_predict_tags_reads_first_sub_tokens(tokenizer):
    labels = label_list(["PERSON"])
    words = [["Spielberg", "smiled"], ["Tom", "Hanks", "laughed", "loudly"]]
    tags = [["B-PERSON", "O"], ["B-PERSON", "I-PERSON", "O", "O"]]
    batch = encode_tagged(tokenizer, words, tags, labels)

    class Oracle(torch.nn.Module):  # scores the aligned label highest, label 1 (B-PERSON) elsewhere
        def __init__(self):
            super().__init__()
            self.p, self.row = torch.nn.Parameter(torch.zeros(1)), 0

        def forward(self, input_ids, attention_mask):  # called with one sentence at a time
            y = batch.labels[self.row, :input_ids.size(1)].clone()
            self.row += 1
            y[y == -100] = 1  # wrong on every sub-token that is not the first of its word
            return torch.nn.functional.one_hot(y, len(labels)).float()[None]

    assert predict_tags(Oracle(), batch, labels, batch_size=1) == tags


def test_truncated_words_are_predicted_outside(tokenizer, capsys):
    labels = label_list(["PERSON"])
    words = [["word"] * 20]
    batch = encode_tagged(tokenizer, words, [["B-PERSON"] * 20], labels, max_length=8)
    assert batch.truncated == 1 and "truncated" in capsys.readouterr().out
    model = BertForTokenClassification(BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1,
                                                  num_attention_heads=2, intermediate_size=32, num_labels=3))
    pred = predict_tags(model, batch, labels)
    assert len(pred[0]) == 20 and pred[0][6:] == ["O"] * 14  # 8 sub-tokens: [CLS], 6 words, [SEP]


# ---- learning -------------------------------------------------------------------------------------

FIRST = ["Anna", "Boris", "Carla", "Dmitri", "Elena", "Farid"]
LAST = ["Smith", "Okafor", "Novak", "Tanaka"]
FILLER = "the film was a story about people in town and it felt long but fine".split()


def planted(n, seed):
    """Sentences where a first name followed by a surname is a PERSON and 'Paramount' an ORG."""
    rng = np.random.default_rng(seed)
    words, tags = [], []
    for _ in range(n):
        w = list(rng.choice(FILLER, 6))
        t = ["O"] * 6
        at = int(rng.integers(0, 5))
        w[at:at] = [str(rng.choice(FIRST)), str(rng.choice(LAST))]
        t[at:at] = ["B-PER", "I-PER"]
        if rng.random() < 0.5:
            w.append("Paramount")
            t.append("B-ORG")
        words.append(w)
        tags.append(t)
    return words, tags


def test_a_tiny_tagger_learns_a_planted_rule(tokenizer):
    labels = label_list(["PER", "ORG"])
    torch.manual_seed(0)
    model = BertForTokenClassification(BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=64, num_labels=len(labels), hidden_dropout_prob=0.0))
    train = encode_tagged(tokenizer, *planted(200, 0), labels)
    val_words, val_tags = planted(60, 1)
    val = encode_tagged(tokenizer, val_words, val_tags, labels)
    before = entity_scores(val_tags, predict_tags(model, val, labels))["f1"]
    history = fine_tune_tagger(model, train, val, steps=150, batch_size=16, lr=3e-3, device="cpu",
                               progress=False)
    after = entity_scores(val_tags, predict_tags(model, val, labels))
    assert history["val"][-1] < history["val"][0]
    assert after["f1"] >= 0.95 > before
    assert after["per_type"]["ORG"]["f1"] >= 0.95


def test_pack_words_moves_first_sub_tokens_to_the_front():
    scores = torch.arange(2 * 5, dtype=torch.float32).reshape(2, 5, 1)
    keep = torch.tensor([[False, True, False, True, False], [False, True, True, True, False]])
    words, mask = pack_words(scores, keep)
    assert mask.tolist() == [[True, True, False], [True, True, True]]
    assert words[0, :2, 0].tolist() == [1, 3] and words[1, :, 0].tolist() == [6, 7, 8]


def test_a_tiny_crf_tagger_learns_and_never_breaks_bio(tokenizer):
    labels = label_list(["PER", "ORG"])
    torch.manual_seed(0)
    emitter = BertForTokenClassification(BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=64, num_labels=len(labels), hidden_dropout_prob=0.0))
    model = CRFTagger(emitter, labels)
    train = encode_tagged(tokenizer, *planted(200, 0), labels)
    val_words, val_tags = planted(60, 1)
    val = encode_tagged(tokenizer, val_words, val_tags, labels)
    with torch.no_grad():  # an untrained head that loves I-PER: greedy decoding breaks BIO, Viterbi cannot
        emitter.classifier.bias[labels.index("I-PER")] += 5
    assert invalid_transitions(predict_tags(emitter, val, labels)) > 0
    assert invalid_transitions(predict_tags(model, val, labels)) == 0
    history = fine_tune_tagger(model, train, val, steps=100, batch_size=16, lr=3e-3, device="cpu",
                               progress=False)
    pred = predict_tags(model, val, labels)
    assert history["val"][-1] < history["val"][0]
    assert entity_scores(val_tags, pred)["f1"] >= 0.95 and invalid_transitions(pred) == 0
    # the CRF learned that I-PER follows B-PER, and O does not
    t = model.crf.transitions
    assert t[labels.index("B-PER"), labels.index("I-PER")] > t[labels.index("B-PER"), labels.index("O")]


def test_most_frequent_tag_baseline():
    words = [["Tom", "Hanks", "smiled"], ["Tom", "ran"], ["Tom", "Hanks", "won"]]
    tags = [["B-PER", "I-PER", "O"], ["O", "O"], ["B-PER", "I-PER", "O"]]
    base = MostFrequentTag().fit(words, tags)
    assert base.predict([["Tom", "Hanks", "and", "Meryl"]]) == [["B-PER", "I-PER", "O", "O"]]
    assert entity_scores(tags, base.predict(words))["recall"] == 1.0
    assert entity_scores(tags, base.predict(words))["precision"] == pytest.approx(2 / 3)  # "Tom ran"
