"""helpers.validation, and the bad inputs of issue 17 that used to pass silently or fail deep inside.

Each regression test below failed before the fix: it names the call and what it used to do.
"""

import math
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import attention, data, device, embeddings, report, validation as V
from helpers.validation import (ArgumentTypeError, ArgumentValueError, CourseError, MissingFileError,
                                PathError, ShapeError, TrainingError)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path))
    return tmp_path


def small_corpus(n_docs=60, seed=0):
    rng = np.random.default_rng(seed)
    words = ["ab" + chr(97 + i) for i in range(26)]  # letters only: the tokeniser keeps them
    return [list(rng.choice(words, size=12)) for _ in range(n_docs)]


# --- the checks themselves -------------------------------------------------------------------


def test_integers_accept_what_users_pass_and_name_the_argument():
    assert V.positive_int("epochs", np.int64(3)) == 3 and type(V.positive_int("epochs", np.int64(3))) is int
    assert V.positive_int("max_docs", 1e3) == 1000  # a whole float, as 1e3 is written
    assert V.positive_int("top_k", torch.tensor(4)) == 4
    assert V.positive_int("max_docs", None, optional=True) is None
    with pytest.raises(ArgumentValueError, match=r"epochs must be a whole number >= 1; got 0"):
        V.positive_int("epochs", 0)
    with pytest.raises(ArgumentValueError, match="window.*2.5"):
        V.positive_int("window", 2.5)
    for bad in (True, "5", [5], None):
        with pytest.raises(ArgumentTypeError, match="dim"):
            V.positive_int("dim", bad)


def test_reals_probabilities_and_choices():
    assert V.probability("dropout", np.float32(0.5)) == 0.5
    for bad in (-0.1, 1.5, float("nan"), float("inf")):
        with pytest.raises(ArgumentValueError, match="dropout"):
            V.probability("dropout", bad)
    with pytest.raises(ArgumentValueError, match="lr must be > 0"):
        V.positive("lr", 0)
    with pytest.raises(ArgumentValueError, match="Did you mean 'manual'"):
        V.one_of("impl", "manul", ("fused", "manual"))
    with pytest.raises(ArgumentTypeError, match="True or False"):
        V.boolean("progress", 1)


def test_a_string_where_a_list_of_strings_belongs_is_refused():
    assert V.list_of_str("texts", ("a", "b")) == ["a", "b"]  # a tuple is fine
    with pytest.raises(ArgumentTypeError, match=r"texts must be a list of strings, not a single string"):
        V.list_of_str("texts", "a great film")
    with pytest.raises(ArgumentTypeError, match="item 1"):
        V.list_of_str("texts", ["ok", 3])
    with pytest.raises(ArgumentValueError, match="texts is empty"):
        V.list_of_str("texts", [])


def test_token_ids_and_tensors():
    assert V.token_ids("ids", [1, np.int64(2)]).dtype == torch.long
    assert V.token_ids("ids", np.array([0, 4]), vocab_size=5).tolist() == [0, 4]
    with pytest.raises(ArgumentTypeError, match="whole-number"):
        V.token_ids("ids", [1.5, 2])
    with pytest.raises(ArgumentTypeError, match="not text"):
        V.token_ids("ids", "hello")
    with pytest.raises(ArgumentValueError, match="vocabulary has 5 tokens"):
        V.token_ids("ids", [5], vocab_size=5)
    with pytest.raises(ArgumentValueError, match="empty"):
        V.token_ids("prompt", [])
    with pytest.raises(ArgumentTypeError, match="float tensor"):
        V.tensor("q", torch.ones(2, dtype=torch.long), dtype="float")
    with pytest.raises(ShapeError, match="x must have 3 dimension"):
        V.tensor("x", torch.ones(2, 2), ndim=3)


def test_paths(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    assert V.file_path("path", str(tmp_path / "f.txt")) == tmp_path / "f.txt"
    with pytest.raises(PathError, match="is a folder.*a file belongs here"):
        V.file_path("checkpoint", tmp_path)
    with pytest.raises(MissingFileError, match="no file at"):
        V.file_path("path", tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError):  # MissingFileError is also the built-in error
        V.file_path("path", tmp_path / "nope.txt")
    with pytest.raises(PathError, match="does not exist"):
        V.file_path("out", tmp_path / "missing" / "f.txt", must_exist=False, writable=True)
    with pytest.raises(PathError, match="is a file.*a folder belongs here"):
        V.dir_path("checkpoint_dir", tmp_path / "f.txt", writable=True)
    assert V.dir_path("out", tmp_path / "new" / "dir", writable=True).is_dir()
    with pytest.raises(ArgumentTypeError, match="path"):
        V.file_path("path", 3)


def test_every_course_error_is_also_the_builtin_a_user_expects():
    assert issubclass(ArgumentTypeError, TypeError) and issubclass(ArgumentValueError, ValueError)
    assert issubclass(V.UnknownNameError, KeyError) and issubclass(data.UnknownAssetError, V.UnknownNameError)
    assert issubclass(data.MissingAssetError, ImportError) and issubclass(data.MissingAssetError, CourseError)
    assert issubclass(TrainingError, RuntimeError) and issubclass(V.NotAvailableError, RuntimeError)
    assert str(V.UnknownNameError("no quotes")) == "no quotes"


# --- issue 17's examples, each failing before the fix ---------------------------------------


def test_corpus_refuses_a_negative_max_docs():
    # before: data.corpus("lee", max_docs=-5) quietly dropped the last five documents
    with pytest.raises(ArgumentValueError, match=r"max_docs must be a whole number >= 1; got -5"):
        data.corpus("lee", max_docs=-5)
    assert len(data.corpus("lee", max_docs=np.int64(3))) == 3


def test_glove_refuses_a_negative_batch_size_before_counting():
    # before: train_glove(batch_size=-5) reported a loss of 0.0 and trained nothing
    with pytest.raises(ArgumentValueError, match="batch_size must be a whole number >= 1; got -5"):
        embeddings.train_glove(small_corpus(), batch_size=-5, min_count=1, progress=False)


def test_sentiment_with_a_tiny_sample_says_how_many_it_needs():
    # before: data.sentiment(max_examples=1) failed inside numpy ("need at least one array to concatenate")
    with pytest.raises(ArgumentValueError, match=r"max_examples=1 leaves the .* empty.*at least max_examples=(\d+)") as err:
        data.sentiment(max_examples=1)
    enough = int(err.value.args[0].rsplit("=", 1)[1].rstrip("."))
    parts = data.sentiment(max_examples=enough)
    assert all(len(p) > 0 for p in parts.values())


def test_word2vec_refuses_a_corpus_split_into_words():
    # before: one-word documents trained nothing and returned untrained vectors, without a warning
    text = " ".join(" ".join(doc) for doc in small_corpus())
    words_not_lines = data.tokenize_documents(text.split())
    with pytest.raises(ArgumentValueError, match="split it into lines"):
        embeddings.train_word2vec(words_not_lines, min_count=1, progress=False)
    mostly_words = words_not_lines[:400] + small_corpus(20)
    with pytest.warns(UserWarning, match="single word.*split into words"):
        embeddings.train_word2vec(mostly_words, dim=8, min_count=1, epochs=1, device="cpu", progress=False)


def test_diverging_training_stops_with_the_step_and_last_finite_loss(monkeypatch):
    # before: a NaN loss came back as a history of NaNs and vectors of NaN
    docs = data.corpus("lee", max_docs=60)
    with pytest.raises(TrainingError, match=r"loss became nan at epoch 1 .*last finite loss"):
        embeddings.train_glove(docs, dim=8, min_count=1, lr=1e6, epochs=2, workers=1, device="cpu",
                               progress=False)
    steps = iter([1.0] + [float("nan")] * 10**6)  # one good stretch, then the loss diverges
    monkeypatch.setattr(embeddings.word2vec, "_sg_step", lambda *a, want_loss=False, **kw: next(steps))
    with pytest.raises(TrainingError, match=r"loss became nan at epoch 1 .*last finite loss: 1\b"):
        embeddings.train_word2vec(docs, dim=8, min_count=1, epochs=1, workers=1, chunk_words=2000, device="cpu",
                                  progress=False)


def test_pretrained_glove_refuses_a_negative_size():
    # before: data.glove(max_words=-1) silently dropped the last word; max_words=[1] failed in lru_cache
    with pytest.raises(ArgumentValueError, match="max_words"):
        data.glove(max_words=-1)
    with pytest.raises(ArgumentTypeError, match="max_words"):
        data.glove(max_words=[1])


def test_evaluate_refuses_one_set_name_as_a_string():
    # before: sets="analogy" was read letter by letter ("Unknown evaluation set 'a'")
    kv = embeddings.to_keyed_vectors(["a", "b"], torch.randn(2, 4))
    with pytest.raises(ArgumentTypeError, match=r'sets must be a list of strings.*\["wordsim353"'):
        embeddings.evaluate(kv, sets="analogy")


def test_attention_refuses_integer_tensors_and_mixed_dtypes():
    # before: a RuntimeError from inside torch's matmul
    q = torch.ones(1, 3, 4, dtype=torch.long)
    with pytest.raises(ArgumentTypeError, match="query must be a float tensor"):
        attention.attention(q, q, q)
    f = torch.randn(1, 3, 4)
    with pytest.raises(ArgumentTypeError, match="share one dtype"):
        attention.attention(f, f.double(), f)
    with pytest.raises(ArgumentValueError, match="dropout_p"):
        attention.attention(f, f, f, dropout_p=1.5)


def test_seeds_and_devices_are_checked_before_use():
    # before: seed_everything(-1) failed inside NumPy; describe("gpu") inside torch
    with pytest.raises(ArgumentValueError, match="seed must be a whole number between 0 and 4294967295"):
        device.seed_everything(-1)
    with pytest.raises(ArgumentValueError, match="'gpu' is not a device name"):
        device.describe("gpu")


def test_paths_that_are_folders_are_refused(tmp_path, cache):
    # before: read_text_file(folder) said "No file at ..."; write_cache(folder) failed in tempfile
    with pytest.raises(PathError, match="is a folder"):
        data.read_text_file(tmp_path)
    with pytest.raises(PathError, match="is a folder"):
        data.write_cache(tmp_path, [1])
    with pytest.raises(PathError, match="is a folder"):
        report.read(tmp_path)


def test_a_cache_file_from_another_version_of_the_code_is_rebuilt(cache):
    # before: unpickling a class that moved raised AttributeError from read_cache
    path = data.cache_dir() / (data.cache_key("old", []) + ".pkl")
    old = pickle.dumps(data.LabelledTexts(["a"], np.zeros(1, dtype=np.int64)))
    payload = old.replace(b"helpers.data.loaders", b"helpers.data.nowhere")  # a module that is gone
    assert payload != old
    path.write_bytes(data.cache._MAGIC + __import__("hashlib").sha256(payload).digest() + payload)
    assert data.read_cache(path) is None
    assert data.cached("old", [], lambda: "rebuilt") == "rebuilt"


def test_cache_dir_that_is_a_file_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path / "file"))
    with pytest.raises(PathError, match=r"\$COURSE_CACHE_DIR is a file"):
        data.cache_dir()


def test_command_line_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "helpers.data"], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0 and "wordsim353" in out.stdout


def test_warnings_are_not_raised_for_good_corpora():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        V.warn_or_refuse_one_word_documents("corpus", small_corpus())


# --- issue 17, the rest: training, fine-tuning, generation, masked LM -----------------------

BAD_TRAIN_CONFIG = [  # (field, a value that cannot be right)
    ("max_iters", 0), ("batch_size", -1), ("learning_rate", 0.0), ("min_lr", -1e-4), ("warmup_iters", -1),
    ("warmup_from_zero", "yes"), ("lr_decay_iters", 0), ("decay", "cosin"), ("weight_decay", float("nan")),
    ("beta1", 1.0), ("beta2", -0.1), ("grad_clip", -1.0), ("grad_accum", 0), ("eval_interval", -1),
    ("eval_iters", 0), ("ckpt_interval", 2.5), ("seed", -1), ("max_seconds", 0), ("compile", 1),
    ("best_metric", ""), ("best_mode", "best"), ("patience", -1)]


def test_every_train_config_field_is_checked_at_construction():
    from dataclasses import fields

    from helpers.training import TrainConfig

    assert {f.name for f in fields(TrainConfig)} == {name for name, _ in BAD_TRAIN_CONFIG}, "a field has no bad value"
    for name, value in BAD_TRAIN_CONFIG:
        with pytest.raises(CourseError, match=f"TrainConfig.{name}"):
            TrainConfig(**{name: value})
    with pytest.raises(ArgumentValueError, match="patience=2 needs a best_metric"):
        TrainConfig(patience=2)
    cfg = TrainConfig(max_iters=np.int64(5), learning_rate=np.float32(0.5), max_seconds=np.float64(1.0))
    assert type(cfg.max_iters) is int and type(cfg.learning_rate) is float  # NumPy numbers are fine


def tiny_gpt_and_batches(calls):
    from helpers.transformer import GPT, GPTConfig

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=1, n_embd=8))

    def get_batch(split, g):
        calls.append(split)
        x = torch.randint(11, (4, 8), generator=g)
        return x, x

    return model, get_batch


def test_eval_iters_zero_is_refused_before_the_first_step(tmp_path):
    # before: TrainConfig(eval_iters=0) trained until the first evaluation, then ZeroDivisionError, no checkpoint
    from helpers.training import TrainConfig, train

    with pytest.raises(ArgumentValueError, match="TrainConfig.eval_iters must be a whole number >= 1; got 0"):
        TrainConfig(eval_iters=0)
    calls = []
    model, get_batch = tiny_gpt_and_batches(calls)
    cfg = TrainConfig(max_iters=4, eval_interval=2)
    cfg.eval_iters = 0  # a field changed after construction: train checks again
    with pytest.raises(ArgumentValueError, match="TrainConfig.eval_iters"):
        train(model, get_batch, cfg, ckpt_path=tmp_path / "run.safetensors", progress=False)
    assert calls == [], "training started before the check"


def test_a_checkpoint_folder_that_cannot_be_made_is_refused_before_the_first_step(tmp_path):
    # before: a checkpoint_dir (or ckpt_path's folder) that is a file failed only at the first save
    from helpers.finetuning import fine_tune
    from helpers.training import TrainConfig, train

    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    calls = []
    model, get_batch = tiny_gpt_and_batches(calls)
    with pytest.raises(PathError, match="the folder of ckpt_path"):
        train(model, get_batch, TrainConfig(max_iters=2, eval_iters=1), ckpt_path=a_file / "run.safetensors",
              progress=False)
    assert calls == []
    with pytest.raises(PathError, match="checkpoint_dir is a file"):
        fine_tune(None, None, None, None, checkpoint_dir=a_file)
    with pytest.raises(PathError, match="checkpoint_dir: cannot create the folder"):
        fine_tune(None, None, None, None, checkpoint_dir=a_file / "runs")
    from helpers.checkpoint import checkpoint_info, load_checkpoint

    # before: a checkpoint path that is a folder gave "OSError: No such device"
    with pytest.raises(PathError, match="path is a folder"):
        load_checkpoint(tmp_path, model)
    with pytest.raises(MissingFileError, match="no file at"):
        checkpoint_info(tmp_path / "none.safetensors")


def test_empty_data_is_refused_before_training(tmp_path):
    # before: an empty split reached the tokenizer or the loop and failed deep inside (or trained on nothing)
    from helpers.data import LabelledTexts
    from helpers.encoder import Encoder, EncoderConfig
    from helpers.finetuning import SequenceClassifier, fine_tune
    from helpers.training import TrainConfig, train

    model = SequenceClassifier(Encoder(EncoderConfig(vocab_size=30, hidden_size=8, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=8,
                                                     max_position_embeddings=16)), num_labels=2)
    some = LabelledTexts(["a b", "c d"], np.array([0, 1]))
    none = LabelledTexts([], np.zeros(0, dtype=np.int64))
    with pytest.raises(ArgumentValueError, match="train is empty"):
        fine_tune(model, None, none, some)
    with pytest.raises(ArgumentValueError, match="validation is empty"):
        fine_tune(model, None, some, none)
    gpt, _ = tiny_gpt_and_batches([])
    empty = torch.zeros(0, 8, dtype=torch.long)
    before = {k: v.clone() for k, v in gpt.state_dict().items()}
    with pytest.raises(TrainingError, match="gave no training example at step 1"):
        train(gpt, lambda split, g: (empty, empty), TrainConfig(max_iters=3, eval_iters=1), progress=False)
    assert all(torch.equal(v, gpt.state_dict()[k]) for k, v in before.items())


def test_predict_proba_refuses_a_single_string():
    # before: predict_proba(model, tokenizer, "a great film") returned one prediction per character
    from transformers import AutoTokenizer

    from helpers.encoder import Encoder, EncoderConfig
    from helpers.finetuning import SequenceClassifier, predict_proba, sentence_vectors

    tokenizer = AutoTokenizer.from_pretrained(data.minilm_dir())
    encoder = Encoder(EncoderConfig(vocab_size=30522, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                    intermediate_size=8, max_position_embeddings=32))
    model = SequenceClassifier(encoder, num_labels=2)
    with pytest.raises(ArgumentTypeError, match=r"texts must be a list of strings, not a single string.*"
                                                r"\['a great film'\]"):
        predict_proba(model, tokenizer, "a great film")
    with pytest.raises(ArgumentTypeError, match="texts"):
        sentence_vectors(encoder, tokenizer, "a great film")
    assert predict_proba(model, tokenizer, ("a great film",)).shape == (1, 2)  # a tuple is fine


def test_numpy_numbers_are_accepted_where_a_number_is():
    # before: top_k=np.int64(3) was rejected as "not a whole number"
    from helpers.generation import check_sampling, generate, sample_next
    from helpers.transformer import GPT, GPTConfig

    assert check_sampling(np.float32(0.5), np.int64(3), np.float64(0.9)) == (0.5, 3, pytest.approx(0.9))
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=1, n_embd=8))
    g = torch.Generator().manual_seed(0)
    out = generate(model, torch.zeros(1, 1, dtype=torch.long), np.int64(3), temperature=np.float64(0.8),
                   top_k=np.int64(3), top_p=np.float32(0.9), generator=g)
    assert out.shape == (1, 4)
    assert generate(model, [0, 1], 2, greedy=True).shape == (1, 4)  # a list of ids is fine
    with pytest.raises(ArgumentTypeError, match="idx must be token ids"):
        generate(model, "hello", 2)
    assert sample_next(torch.randn(2, 11), top_k=np.int64(1)).shape == (2, 1)
    with pytest.raises(ArgumentValueError, match="temperature.*greedy=True"):
        check_sampling(temperature=0)


def test_a_masked_lm_batch_with_no_masked_token_does_not_poison_the_average():
    # before: cross_entropy over no position gave NaN, and the evaluation's mean of losses became NaN
    from helpers.encoder import EncoderConfig
    from helpers.pretraining import MiniBertForPreTraining
    from helpers.training import estimate_loss

    torch.manual_seed(0)
    model = MiniBertForPreTraining(EncoderConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1,
                                                 num_attention_heads=2, intermediate_size=8,
                                                 max_position_embeddings=16), nsp=False)
    ids = torch.randint(4, 20, (2, 6))
    none_masked = torch.full_like(ids, -100)
    some_masked = none_masked.clone()
    some_masked[:, 2] = ids[:, 2]
    mlm_loss = model(ids, torch.zeros_like(ids), torch.ones_like(ids), none_masked)[0]
    assert mlm_loss.item() == 0.0 and mlm_loss.requires_grad  # nothing to predict, and backward still works
    batches = iter([none_masked, some_masked] * 2)

    def get_batch(split, g):
        return ids, torch.zeros_like(ids), torch.ones_like(ids), next(batches)

    losses = estimate_loss(model, get_batch, eval_iters=2, seed=0, step_fn=lambda m, b: (m(*b)[0], {}),
                           splits=("val",))
    assert math.isfinite(losses["val"]) and losses["val"] > 0
