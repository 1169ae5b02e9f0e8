"""helpers.finetuning on a tiny encoder: the head learns, freezing and LoRA train what they should,
checkpoints resume, and bad input gets clear errors."""

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from helpers import data
from helpers.data import LabelledTexts
from helpers.encoder import Encoder, EncoderConfig, mean_pool
from helpers.finetuning import (SequenceClassifier, add_lora, check_saved_model_dir, classification_metrics,
                                count_parameters, evaluate, fine_tune, freeze, predict, predict_logits,
                                predict_proba, sentence_vectors, tuned_logistic_regression)
from helpers.text_batches import Encoded, check_labels, encode, length_batches, trim_batch


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(data.minilm_dir())


def tiny_encoder(seed=0):
    torch.manual_seed(seed)
    return Encoder(EncoderConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2,
                                 num_attention_heads=4, intermediate_size=64,
                                 max_position_embeddings=64, dropout=0.0))


def planted(n=240, seed=0):
    """Sentences whose label is decided by one word: a task any working loop learns at once."""
    rng = np.random.default_rng(seed)
    filler = "the film was a story about people in a town".split()
    texts, labels = [], []
    for i in range(n):
        y = int(rng.integers(2))
        words = list(rng.choice(filler, 6)) + ["wonderful" if y else "dreadful"]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(y)
    return LabelledTexts(texts, np.array(labels))


def test_fine_tuning_learns_a_planted_rule(tokenizer):
    train, val = planted(240, 0), planted(60, 1)
    model = SequenceClassifier(tiny_encoder(), num_labels=2)
    before = evaluate(model, tokenizer, val)["accuracy"]
    history = fine_tune(model, tokenizer, train, val, epochs=4, batch_size=16, lr=3e-3, device="cpu")
    after = evaluate(model, tokenizer, val)
    assert after["accuracy"] >= 0.95 > before
    assert history.train_loss[-1] < history.train_loss[0]
    assert set(after) >= {"accuracy", "precision", "recall", "f1", "confusion"}


def test_freezing_trains_only_the_head(tokenizer):
    model = SequenceClassifier(tiny_encoder(), num_labels=2)
    freeze(model.encoder)
    trainable, total = count_parameters(model)
    assert trainable == 32 * 2 + 2 and total > 1000 * trainable
    enc_before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    fine_tune(model, tokenizer, planted(64), planted(32, 1), epochs=1, batch_size=16, lr=1e-2, device="cpu")
    assert all(torch.equal(enc_before[k], v) for k, v in model.encoder.state_dict().items())


def test_lora_trains_adapters_and_head_only(tokenizer):
    model = add_lora(SequenceClassifier(tiny_encoder(), num_labels=2), r=4)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n or n.startswith("head.") for n in names)
    assert any("c_attn.lora_A" in n for n in names)
    trainable, total = count_parameters(model)
    assert trainable / total < 0.05
    fine_tune(model, tokenizer, planted(160), planted(40, 1), epochs=5, batch_size=16, lr=1e-2, device="cpu")
    assert evaluate(model, tokenizer, planted(80, 2))["accuracy"] >= 0.85  # chance is 0.5


def test_interrupted_run_resumes_exactly(tokenizer, tmp_path, monkeypatch):
    import helpers.finetuning as ft

    train, val = planted(96), planted(32, 1)
    kw = dict(epochs=3, batch_size=16, lr=3e-3, patience=9, device="cpu")
    whole = SequenceClassifier(tiny_encoder(), num_labels=2, dropout=0.0)
    h_whole = fine_tune(whole, tokenizer, train, val, **kw)

    real_predict, calls = ft.predict, []

    def interrupted_in_epoch_3(*a, **k):  # Ctrl-C during the third epoch's evaluation
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_predict(*a, **k)

    monkeypatch.setattr(ft, "predict", interrupted_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        fine_tune(SequenceClassifier(tiny_encoder(), num_labels=2, dropout=0.0), tokenizer, train, val,
                  checkpoint_dir=tmp_path, **kw)
    monkeypatch.setattr(ft, "predict", real_predict)
    resumed = SequenceClassifier(tiny_encoder(seed=1), num_labels=2, dropout=0.0)  # other start weights
    h_resumed = fine_tune(resumed, tokenizer, train, val, checkpoint_dir=tmp_path, **kw)
    assert h_resumed.train_loss == h_whole.train_loss  # exactly, epoch by epoch
    assert h_resumed.val_accuracy == h_whole.val_accuracy
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        if name.startswith("head.") or "layers.1" in name:
            assert torch.equal(a, b), name
    assert not list(tmp_path.glob("*.tmp"))


def test_checkpoint_from_another_configuration_is_refused(tokenizer, tmp_path):
    model = SequenceClassifier(tiny_encoder(), num_labels=2)
    fine_tune(model, tokenizer, planted(32), planted(16, 1), epochs=1, batch_size=16, device="cpu",
              checkpoint_dir=tmp_path)
    other = SequenceClassifier(tiny_encoder(), num_labels=2)
    freeze(other.encoder)
    with pytest.raises(ValueError, match="another configuration"):
        fine_tune(other, tokenizer, planted(32), planted(16, 1), epochs=2, batch_size=16, device="cpu",
                  checkpoint_dir=tmp_path)


@pytest.mark.parametrize("labels, error, message", [
    ([0, 1, 2], ValueError, "0..1"),
    ([0.5, 1.0, 0.0], TypeError, "integers"),
    (["pos", "neg", "pos"], TypeError, "integers"),
    ([1, 1, 1], ValueError, "never occur"),
    ([], ValueError, "empty"),
])
def test_bad_labels_are_clear_errors(labels, error, message):
    with pytest.raises(error, match=message):
        check_labels(labels, num_labels=2)


def test_long_texts_are_truncated_with_a_note(tokenizer, capsys):
    texts = ["short one", "word " * 200]
    enc = encode(tokenizer, texts, [0, 1], num_labels=2, max_length=16)
    assert enc.truncated == 1 and enc.input_ids.shape == (2, 16)
    assert "1 of 2 train texts are longer than 16 tokens" in capsys.readouterr().out


def test_nothing_trainable_is_a_clear_error(tokenizer):
    model = freeze(SequenceClassifier(tiny_encoder(), num_labels=2))
    with pytest.raises(ValueError, match="No parameter"):
        fine_tune(model, tokenizer, planted(16), planted(8, 1), epochs=1, device="cpu")


def test_metrics_match_hand_counts():
    m = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1])
    assert m["accuracy"] == 0.75 and m["confusion"] == [[1, 1], [0, 2]]
    assert m["recall"] == pytest.approx((0.5 + 1.0) / 2)


def test_saved_model_dir_names_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="No saved model folder"):
        check_saved_model_dir(tmp_path / "nope")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="model.safetensors or pytorch_model.bin"):
        check_saved_model_dir(tmp_path)
    assert check_saved_model_dir(data.minilm_dir()) == data.minilm_dir()


def hf_tiny_bert(seed=0):
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    return BertModel(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                intermediate_size=64, max_position_embeddings=64))


@pytest.mark.parametrize("make_encoder", [tiny_encoder, hf_tiny_bert], ids=["course", "transformers"])
def test_trimmed_batches_give_the_same_logits(tokenizer, make_encoder):
    """predict trims each batch to its longest text and runs texts in order of length: the logits
    must be those of the whole padded batch, row for row."""
    model = SequenceClassifier(make_encoder(), num_labels=2).eval()
    texts = planted(40, 3).texts[:37] + ["great", "a b c d e f g h i j k l m n o p q r s t u v w x", "no"]
    enc = tokenizer(texts, padding="max_length", max_length=48, truncation=True, return_tensors="pt")
    batch = Encoded(enc["input_ids"], enc["attention_mask"], torch.zeros(len(texts), dtype=torch.long), 0)
    with torch.no_grad():
        untrimmed = model(batch.input_ids, batch.attention_mask)  # every row 48 tokens wide
    trimmed = predict_logits(model, batch, batch_size=8)  # batches of 8, 3 to 27 tokens wide
    assert trimmed.shape == untrimmed.shape
    torch.testing.assert_close(trimmed, untrimmed, atol=1e-5, rtol=1e-4)
    assert (predict(model, batch, batch_size=8) == untrimmed.argmax(-1).numpy()).all()
    probs = predict_proba(model, tokenizer, texts[:3])
    torch.testing.assert_close(torch.from_numpy(probs), untrimmed[:3].softmax(-1), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("make_encoder", [tiny_encoder, hf_tiny_bert], ids=["course", "transformers"])
def test_sentence_vectors_are_the_mean_of_the_real_tokens(tokenizer, make_encoder):
    encoder = make_encoder().eval()
    texts = ["a wonderful film", "dreadful", "the story of people in a town, told slowly and with care"]
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = encoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
        hidden = getattr(out, "last_hidden_state", out)  # (3, tokens, 32)
    vectors = sentence_vectors(encoder, tokenizer, texts, batch_size=2)
    assert vectors.shape == (3, 32)
    torch.testing.assert_close(vectors, mean_pool(hidden, enc["attention_mask"]), atol=1e-5, rtol=1e-4)
    by_hand = hidden[1, : int(enc["attention_mask"][1].sum())].mean(0)  # the short text: no padding counted
    torch.testing.assert_close(vectors[1], by_hand, atol=1e-5, rtol=1e-4)


def test_tuned_logistic_regression_picks_c_on_validation():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x, x_val = rng.normal(size=(300, 20)), rng.normal(size=(200, 20))
    y, y_val = (x[:, 0] > 0.8).astype(int), (x_val[:, 0] > 0.8).astype(int)  # about 1 in 5 positive
    # C = 1e-6 shrinks the weights to nothing: only the intercept is left, every prediction is the majority
    clf = tuned_logistic_regression(x, y, x_val, y_val, c_grid=(1e-6, 1.0))
    assert clf.C == 1.0 and clf.score(x_val, y_val) > 0.9
    scores = {c: LogisticRegression(C=c, max_iter=3000).fit(x, y).score(x_val, y_val) for c in (1e-6, 1e-2, 1e2)}
    best = tuned_logistic_regression(x, y, x_val, y_val, c_grid=tuple(scores))
    assert best.score(x_val, y_val) == max(scores.values()) > min(scores.values())
    with pytest.raises(ValueError, match="empty"):
        tuned_logistic_regression(x[:0], y[:0], x_val, y_val)


def test_trim_batch_drops_only_trailing_padding():
    ids = torch.arange(12).reshape(3, 4)
    right = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0]])
    t_ids, t_mask = trim_batch(ids, right)
    assert t_ids.shape == (3, 2) and torch.equal(t_mask, right[:, :2]) and torch.equal(t_ids, ids[:, :2])
    left = torch.tensor([[0, 0, 1, 1], [0, 0, 0, 1], [0, 0, 1, 1]])  # left padding: positions must not move
    assert trim_batch(ids, left)[0].shape == (3, 4)


def test_length_batches_cover_every_example_once():
    lengths = torch.randint(3, 60, (1000,), generator=torch.Generator().manual_seed(0))
    plain = length_batches(lengths, 32, torch.Generator().manual_seed(5))
    assert torch.equal(torch.cat(plain), torch.randperm(1000, generator=torch.Generator().manual_seed(5)))
    grouped = length_batches(lengths, 32, torch.Generator().manual_seed(5), group_by_length=True)
    assert sorted(torch.cat(grouped).tolist()) == list(range(1000)) and len(grouped) == len(plain)
    again = length_batches(lengths, 32, torch.Generator().manual_seed(5), group_by_length=True)
    assert all(torch.equal(a, b) for a, b in zip(grouped, again))

    def padded(batches):
        return sum(len(b) * int(lengths[b].max()) for b in batches)

    assert padded(grouped) < 0.7 * padded(plain)


def test_length_grouped_fine_tuning_learns(tokenizer):
    train, val = planted(240, 0), planted(60, 1)
    model = SequenceClassifier(tiny_encoder(), num_labels=2)
    fine_tune(model, tokenizer, train, val, epochs=4, batch_size=16, lr=3e-3, device="cpu", group_by_length=True)
    assert evaluate(model, tokenizer, val)["accuracy"] >= 0.95
