"""helpers.pretraining: masking proportions, NSP balance, exact resume from a checkpoint, bad inputs."""

from __future__ import annotations

import pytest
import torch

from helpers.pretraining import (IGNORE_INDEX, CharVocab, TrainConfig, causal_lm_batch, checkpoint_info,
                                 load_checkpoint, lr_at, mask_tokens, nsp_pairs, save_checkpoint,
                                 special_token_ids, train)
from helpers.transformer import GPT, GPTConfig

TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 40)


def test_char_vocab_round_trip():
    v = CharVocab(TEXT)
    assert v.decode(v.encode("hear me speak")) == "hear me speak"
    with pytest.raises(KeyError, match="not in the vocabulary"):
        v.encode("Z~")


def test_causal_batch_targets_are_inputs_shifted():
    data = torch.arange(100)
    x, y = causal_lm_batch(data, block_size=8, batch_size=4, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 8)
    assert torch.equal(y, x + 1)


def test_corpus_too_short_for_block_size():
    with pytest.raises(ValueError, match="too short for block_size"):
        causal_lm_batch(torch.arange(10), block_size=10, batch_size=2)


def test_masking_proportions():
    g = torch.Generator().manual_seed(0)
    vocab, mask_id = 1000, 3
    ids = torch.randint(10, vocab, (200, 500), generator=g)  # 100,000 tokens, none special, none == mask_id
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True  # [CLS] ... [SEP] positions are never chosen
    inputs, labels = mask_tokens(ids, mask_id, vocab, special, generator=g)
    chosen = labels != IGNORE_INDEX
    n_ok = (~special).sum().item()
    assert not chosen[special].any()
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(inputs[~chosen], ids[~chosen])
    n = chosen.sum().item()
    frac = n / n_ok
    se = (0.15 * 0.85 / n_ok) ** 0.5
    assert abs(frac - 0.15) < 5 * se, frac
    masked = (inputs[chosen] == mask_id).float().mean().item()
    kept = (inputs[chosen] == ids[chosen]).float().mean().item()
    randomised = 1 - masked - kept
    for got, want in [(masked, 0.8), (kept, 0.1), (randomised, 0.1)]:
        assert abs(got - want) < 5 * (want * (1 - want) / n) ** 0.5 + 1e-3, (got, want)


def test_special_tokens_are_required():
    assert special_token_ids({"[PAD]": 0, "[CLS]": 1, "[SEP]": 2, "[MASK]": 3, "a": 4})["[MASK]"] == 3
    with pytest.raises(ValueError, match=r"lacks the special tokens \['\[MASK\]'\]"):
        special_token_ids({"[PAD]": 0, "[CLS]": 1, "[SEP]": 2})
    with pytest.raises(ValueError, match="outside the vocabulary"):
        mask_tokens(torch.zeros(2, 3, dtype=torch.long), mask_token_id=50, vocab_size=10)


def test_nsp_pairs_are_balanced_and_true_pairs_follow():
    docs = [[f"d{d} s{i}." for i in range(6)] for d in range(20)]
    pairs = nsp_pairs(docs, 1001, seed=0)
    labels = [lab for _, _, lab in pairs]
    assert labels.count(0) == 500 and labels.count(1) == 501
    for a, b, lab in pairs:
        da, ia = a.split()[0], int(a.split()[1][1:-1])
        db, ib = b.split()[0], int(b.split()[1][1:-1])
        if lab == 0:
            assert da == db and ib == ia + 1
        else:
            assert da != db
    with pytest.raises(ValueError, match="at least two documents"):
        nsp_pairs([["only one.", "doc."]], 4)


def test_lr_schedule_warms_up_and_decays():
    cfg = TrainConfig(max_iters=200, learning_rate=1e-3, min_lr=1e-4, warmup_iters=20)
    lrs = [lr_at(i, cfg) for i in range(220)]
    assert lrs[0] < lrs[10] < lrs[19] <= 1e-3
    assert max(lrs) == pytest.approx(1e-3, rel=1e-3)
    assert lrs[199] == pytest.approx(1e-4, rel=1e-2) and lrs[210] == 1e-4


def _setup(dropout=0.1):
    vocab = CharVocab(TEXT)
    data = torch.tensor(vocab.encode(TEXT))
    cfg = GPTConfig(vocab_size=len(vocab), block_size=16, n_layer=1, n_head=2, n_embd=32, dropout=dropout)

    def get_batch(split, g):
        return causal_lm_batch(data, 16, 4, g)

    torch.manual_seed(0)
    return GPT(cfg), get_batch


def test_resume_reproduces_the_uninterrupted_run_exactly(tmp_path):
    tc = TrainConfig(max_iters=24, warmup_iters=4, eval_interval=8, eval_iters=2, ckpt_interval=4, seed=3)
    model, get_batch = _setup()
    full = train(model, get_batch, tc, ckpt_path=tmp_path / "full.safetensors", progress=False)

    model, get_batch = _setup()
    calls = {"n": 0}

    def interrupting(split, g):  # Ctrl-C during step 15: the checkpoint of step 12 must survive
        if split == "train":
            calls["n"] += 1
            if calls["n"] == 17:  # 14 steps + 2 evaluation batches at step 8, then step 15
                raise KeyboardInterrupt
        return get_batch(split, g)

    path = tmp_path / "run.safetensors"
    part = train(model, interrupting, tc, ckpt_path=path, progress=False)
    assert len(part["loss"]) == 14 and checkpoint_info(path)["step"] == 12

    model, get_batch = _setup()  # a fresh process would start from scratch like this
    resumed = train(model, get_batch, tc, ckpt_path=path, progress=False)
    assert resumed["step"] == full["step"]
    assert resumed["loss"] == full["loss"]  # bit for bit
    assert resumed["val"] == full["val"]


def test_checkpoint_from_another_configuration_is_refused(tmp_path):
    model, _ = _setup()
    path = save_checkpoint(tmp_path / "c.safetensors", model, step=5)
    other = GPT(GPTConfig(vocab_size=model.config.vocab_size, block_size=16, n_layer=2, n_head=2, n_embd=32))
    with pytest.raises(ValueError, match="another configuration.*n_layer"):
        load_checkpoint(path, other)
    assert load_checkpoint(path, GPT(model.config))["step"] == 5
    assert not list(tmp_path.glob("*.tmp"))  # written atomically, no leftovers
