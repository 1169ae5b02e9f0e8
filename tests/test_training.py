"""helpers.checkpoint and helpers.training: the one format (types, atomic writes, refusals) and the one
loop (accumulation, time budgets, non-finite losses, best weights and patience)."""

from __future__ import annotations

import math

import pytest
import torch

from helpers.checkpoint import atomic_write, checkpoint_info, load_checkpoint, save_checkpoint
from helpers.pretraining import CharVocab, causal_lm_batch
from helpers.training import TrainConfig, lr_at, make_optimizer, train
from helpers.transformer import GPT, GPTConfig

TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 40)


def tiny_gpt(seed=0, n_layer=1, dropout=0.0):
    vocab = CharVocab(TEXT)
    data = torch.tensor(vocab.encode(TEXT))
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=len(vocab), block_size=16, n_layer=n_layer, n_head=2, n_embd=32,
                          dropout=dropout))
    return model, lambda split, g, b=8: causal_lm_batch(data, 16, b, g)


def test_optimizer_hyper_parameters_come_back_with_their_types(tmp_path):
    model, get_batch = tiny_gpt()
    cfg = TrainConfig(max_iters=2, warmup_iters=1, eval_interval=0, eval_iters=1)
    train(model, get_batch, cfg, ckpt_path=tmp_path / "c.safetensors", progress=False)
    fresh, _ = tiny_gpt(seed=1)
    opt = make_optimizer(fresh, cfg)
    meta = load_checkpoint(tmp_path / "c.safetensors", fresh, opt)
    assert meta["step"] == 2
    assert opt.param_groups[0]["betas"] == (0.9, 0.99) and isinstance(opt.param_groups[0]["betas"], tuple)
    assert torch.equal(fresh.lm_head.weight, model.lm_head.weight)
    assert isinstance(meta["extra"]["history"]["loss"], list)


def test_a_file_cut_short_is_refused_and_the_model_left_alone(tmp_path):
    model, _ = tiny_gpt()
    path = save_checkpoint(tmp_path / "c.safetensors", model, step=3)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    other, _ = tiny_gpt(seed=5)
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(ValueError, match="cut short"):
        load_checkpoint(path, other)
    assert all(torch.equal(before[k], v) for k, v in other.state_dict().items())


def test_another_shape_names_the_first_mismatched_parameter(tmp_path):
    model, _ = tiny_gpt()
    path = save_checkpoint(tmp_path / "c.safetensors", model)
    wider = GPT(GPTConfig(vocab_size=model.config.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=48))
    with pytest.raises(ValueError, match=r"transformer.wte.weight' has shape \(\d+, 32\) in the checkpoint "
                                         r"and \(\d+, 48\) in this model"):
        load_checkpoint(path, wider)


def test_folders_and_files_in_the_wrong_place_are_clear_errors(tmp_path):
    model, get_batch = tiny_gpt()
    with pytest.raises(ValueError, match="is a folder"):
        train(model, get_batch, TrainConfig(max_iters=1), ckpt_path=tmp_path, progress=False)
    with pytest.raises(ValueError, match="path is a folder"):
        atomic_write(tmp_path, lambda tmp: None)
    from helpers.finetuning import fine_tune

    a_file = tmp_path / "last.safetensors"
    a_file.write_text("")
    with pytest.raises(ValueError, match="checkpoint_dir is a file"):
        fine_tune(None, None, None, None, checkpoint_dir=a_file)  # refused before anything else is looked at


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "cache.txt"
    atomic_write(path, lambda tmp: open(tmp, "w").write("old"))

    def broken(tmp):
        open(tmp, "w").write("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, broken)
    assert path.read_text() == "old" and len(list(tmp_path.iterdir())) == 1


def test_gradient_accumulation_equals_one_big_batch():
    runs = []
    for accum in (1, 4):
        model, get_batch = tiny_gpt()
        cfg = TrainConfig(max_iters=6, batch_size=8, warmup_iters=2, eval_interval=3, eval_iters=2, grad_accum=accum)
        runs.append(train(model, get_batch, cfg, progress=False))
    assert runs[0]["loss"] == pytest.approx(runs[1]["loss"], abs=1e-5)
    assert runs[0]["val"] == pytest.approx(runs[1]["val"], abs=1e-5)
    with pytest.raises(ValueError, match="global batch of 8 examples does not divide.*3"):
        train(tiny_gpt()[0], get_batch, TrainConfig(max_iters=1, batch_size=8, grad_accum=3), progress=False)


def test_schedule_warm_up_from_zero_and_linear_decay():
    cfg = TrainConfig(max_iters=100, learning_rate=1.0, min_lr=0.0, warmup_iters=10, warmup_from_zero=True,
                      decay="linear")
    assert lr_at(0, cfg) == 0 and lr_at(5, cfg) == 0.5 and lr_at(55, cfg) == pytest.approx(0.5)
    assert lr_at(3, cfg, budget_used=0.55) == pytest.approx(0.5)  # the clock is further along than the steps


class FakeClock:
    """time.perf_counter that advances 0.1 s per call: a time budget independent of the machine's load."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        self.now += 0.1
        return self.now


def test_a_time_budget_decays_the_schedule_and_says_where_it_stopped(capsys, monkeypatch):
    import helpers.training

    monkeypatch.setattr(helpers.training, "time", FakeClock())
    model, get_batch = tiny_gpt()
    cfg = TrainConfig(max_iters=100_000, warmup_iters=2, eval_interval=20_000, eval_iters=1, max_seconds=6)
    h = train(model, get_batch, cfg, progress=True)
    assert h["stopped_by"] == "time budget" and h["step"][-1] < 100_000
    assert h["lr"][-1] < 0.2 * cfg.learning_rate  # the cosine went (almost) all the way down
    assert 4 <= len(h["eval_step"]) <= 6  # max_iters / eval_interval = 5 evaluations, spread over the budget
    assert f"stopped by the time budget after {h['step'][-1]} steps" in capsys.readouterr().out


def test_a_non_finite_loss_stops_and_keeps_the_last_checkpoint(tmp_path, capsys):
    model, get_batch = tiny_gpt()
    calls = {"n": 0}

    def poisoned(split, g):
        x, y = get_batch(split, g)
        calls["n"] += split == "train"
        if calls["n"] == 7:
            with torch.no_grad():
                model.lm_head.weight.fill_(float("nan"))
        return x, y

    path = tmp_path / "c.safetensors"
    cfg = TrainConfig(max_iters=20, warmup_iters=2, eval_interval=4, eval_iters=1)
    h = train(model, poisoned, cfg, ckpt_path=path, progress=False)
    assert h["stopped_by"] == "non-finite loss" and len(h["loss"]) == 5  # 4 steps, 1 eval batch, step 5
    out = capsys.readouterr().out
    assert "at step 6" in out and f"last finite loss {h['loss'][-1]}" in out
    assert checkpoint_info(path)["step"] == 4 and all(map(math.isfinite, h["loss"]))


def test_best_weights_and_patience():
    model, get_batch = tiny_gpt()
    scores = iter([0.5, 0.7, 0.6, 0.6, 0.9])
    seen = []

    def evaluate(m):
        seen.append(m.lm_head.weight.detach().clone())
        return {"val_accuracy": next(scores)}

    cfg = TrainConfig(max_iters=10, warmup_iters=1, eval_interval=2, best_metric="val_accuracy", best_mode="max",
                      patience=2)
    h = train(model, get_batch, cfg, evaluate=evaluate, progress=False)
    assert h["stopped_by"] == "early stopping" and h["eval_step"] == [2, 4, 6, 8] and h["best_step"] == 4
    assert torch.equal(model.lm_head.weight, seen[1])  # the weights of the best evaluation are back


def test_the_bilm_trains_through_the_loop():
    from helpers.contextual import train_bilm

    corpus = [("the cat sat on the mat and the dog sat on the log " * 8).split()] * 12
    result = train_bilm(corpus, min_count=1, seq_len=8, batch_size=16, epochs=2, lr=3e-2, emb_dim=16,
                        hidden=16, device="cpu", progress=False)
    assert len(result.losses) == 2 * 10 and result.losses[-1] < result.losses[0]  # 142 sequences / 16
    assert 1 < result.val_perplexity < 4  # 10 ids; the sentence repeats, so the context tells the word


def test_time_steps_measures_the_loops_steps_and_leaves_the_model_and_random_state_alone():
    from helpers.training import time_steps

    model, get_batch = tiny_gpt()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(123)
    state = torch.get_rng_state()
    cost = time_steps(model, get_batch, TrainConfig(max_iters=1000, eval_interval=7), n=3, warmup=1)
    assert cost["wall_s"] > 0 and cost["cpu_s"] > 0
    assert cost["tokens"] == 8 * 16  # one batch of 8 sequences of 16 tokens per step
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), state)
    with pytest.raises(ValueError, match="n"):
        time_steps(model, get_batch, TrainConfig(), n=0)
