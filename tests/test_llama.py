"""helpers.llama: the course's Llama-style decoder gives transformers' LlamaForCausalLM logits on the
same weights, generates the same tokens with and without the KV cache, and refuses bad shapes."""

from __future__ import annotations

import os
import warnings

import pytest
import torch

from helpers import data
from helpers.generation import KVCache, generate
from helpers.llama import Llama, LlamaConfig, RMSNorm, apply_rope, rope_tables

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def hf_llama(tie=True, n_kv=2, seed=0, **kw):
    from transformers import LlamaConfig as HFConfig
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = HFConfig(vocab_size=101, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=n_kv, max_position_embeddings=48,
                   rope_theta=100_000.0, tie_word_embeddings=tie, rms_norm_eps=1e-5, **kw)
    return LlamaForCausalLM(cfg).eval()


@pytest.mark.parametrize("tie, n_kv", [(True, 2), (False, 4), (True, 1)], ids=["tied-gqa", "untied-mha", "mqa"])
def test_logits_match_transformers_llama(tie, n_kv):
    hf = hf_llama(tie, n_kv)
    ours = Llama.from_hf(hf)
    assert ours.config.n_kv_head == n_kv and (ours.lm_head.weight is ours.embed_tokens.weight) == tie
    ids = torch.randint(0, 101, (2, 48))
    with torch.no_grad():
        assert (hf(ids).logits - ours(ids)).abs().max().item() < 1e-5
    assert ours.num_params() == sum(p.numel() for p in hf.parameters())


def test_linear_rope_scaling_matches_transformers():
    hf = hf_llama(rope_scaling={"rope_type": "linear", "factor": 2.0})
    ours = Llama.from_hf(hf)
    assert ours.config.rope_scaling == 2.0
    ids = torch.randint(0, 101, (1, 40))
    with torch.no_grad():
        assert (hf(ids).logits - ours(ids)).abs().max().item() < 1e-5


def test_rms_norm_and_rope_by_hand():
    x = torch.randn(3, 5, 8)
    norm = RMSNorm(8)
    want = x / x.pow(2).mean(-1, keepdim=True).add(1e-5).sqrt()
    assert torch.allclose(norm(x), want, atol=1e-6)
    cos, sin = rope_tables(16, 8, theta=10_000.0)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)

    def score(m, n):  # query at position m, key at position n
        return (apply_rope(q, cos[m:m + 1], sin[m:m + 1]) * apply_rope(k, cos[n:n + 1], sin[n:n + 1])).sum()

    assert torch.allclose(score(3, 1), score(12, 10), atol=1e-5)  # only the distance matters
    assert not torch.allclose(score(3, 1), score(3, 2), atol=1e-3)
    assert torch.allclose(apply_rope(q, cos[:1], sin[:1]), q)  # position 0: no rotation
    assert torch.allclose(apply_rope(q, cos[5:6], sin[5:6]).norm(), q.norm(), atol=1e-5)  # a rotation


def test_cached_generation_equals_uncached():
    ours = Llama.from_hf(hf_llama())
    prompt = torch.randint(0, 101, (2, 5))
    a = generate(ours, prompt, 30, greedy=True, use_cache=False)
    b = generate(ours, prompt, 30, greedy=True, use_cache=True)
    assert a.shape == (2, 35) and torch.equal(a, b)
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    a = generate(ours, prompt, 30, temperature=1.3, top_k=20, generator=g(), use_cache=False)
    b = generate(ours, prompt, 30, temperature=1.3, top_k=20, generator=g(), use_cache=True)
    assert torch.equal(a, b)
    # the same distributions: each cached step's logits equal the full forward's at that position
    cache = KVCache(ours.config.n_layer, 40)
    with torch.no_grad():
        full = ours(b)  # (2, 35, vocab)
        steps = [ours(b[:, :5], kv_cache=cache)[:, -1]]
        for t in range(5, 34):
            steps.append(ours(b[:, t:t + 1], kv_cache=cache)[:, -1])
            assert cache.pos == t + 1  # one position more per token
    assert (torch.stack(steps, 1) - full[:, 4:34]).abs().max() < 1e-4


def test_a_chunk_after_the_prefill_sees_the_cache():
    ours = Llama.from_hf(hf_llama())
    ids = torch.randint(0, 101, (1, 20))
    cache = KVCache(ours.config.n_layer, 20)
    with torch.no_grad():
        ours(ids[:, :8], kv_cache=cache)
        last = ours(ids[:, 8:], kv_cache=cache)  # 12 tokens at once, behind 8 cached ones
        assert (last[:, -1] - ours(ids)[:, -1]).abs().max() < 1e-4
    assert cache.pos == 20
    with pytest.raises(ValueError, match="context|cache"):
        with torch.no_grad():
            ours(ids[:, :1], kv_cache=cache)


def test_generation_past_the_context_and_long_prompts():
    ours = Llama.from_hf(hf_llama())  # context 48
    out = generate(ours, torch.randint(0, 101, (1, 10)), 80, greedy=True)  # the cache refills past 48
    assert out.shape == (1, 90)
    with pytest.warns(UserWarning, match="last 48 tokens"):
        out = generate(ours, torch.randint(0, 101, (1, 60)), 3, greedy=True)
    assert out.shape == (1, 51)
    with pytest.raises(ValueError, match="empty"):
        generate(ours, torch.zeros(1, 0, dtype=torch.long), 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        generate(ours, torch.randint(0, 101, (1, 48)), 2, greedy=True)  # exactly the context: fine


def test_bad_configs_and_inputs():
    with pytest.raises(ValueError, match="divisible by n_kv_head"):
        LlamaConfig(n_head=9, n_kv_head=2)
    with pytest.raises(ValueError, match="even"):
        LlamaConfig(n_embd=30, n_head=2, n_kv_head=2)  # head_dim 15
    with pytest.raises(ValueError, match="norm"):
        LlamaConfig(norm="batch")
    small = Llama(LlamaConfig(vocab_size=20, block_size=8, n_layer=1, n_head=2, n_kv_head=1, n_embd=16, mlp_hidden=32))
    with pytest.raises(ValueError, match="block_size"):
        small(torch.zeros(1, 9, dtype=torch.long))


def test_loading_weights_of_another_shape_or_architecture():
    hf = hf_llama()
    ours = Llama(LlamaConfig(vocab_size=101, block_size=48, n_layer=2, n_head=4, n_kv_head=2, n_embd=64,
                             mlp_hidden=128))
    with pytest.raises(ValueError) as err:
        ours.load_hf_state_dict(hf.state_dict())
    assert "layers.0.mlp.gate_proj.weight" in str(err.value) and "(96, 64)" in str(err.value) \
        and "(128, 64)" in str(err.value)
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=101, n_positions=48, n_embd=64, n_layer=2, n_head=4))
    with pytest.raises(KeyError, match="embed_tokens.weight"):
        Llama(ours.config).load_hf_state_dict(gpt2.state_dict())
    with pytest.raises(ValueError, match="model_type"):
        Llama.from_hf(gpt2)


@pytest.mark.parametrize("kw", [dict(norm="layer"), dict(pos="learned"), dict(pos="none"), dict(mlp="gelu"),
                                dict(n_kv_head=4)])
def test_the_switches_back_to_gpt2_train_and_cache(kw):
    cfg = LlamaConfig(**{**dict(vocab_size=30, block_size=16, n_layer=2, n_head=4, n_kv_head=2, n_embd=32,
                                mlp_hidden=64), **kw})
    torch.manual_seed(0)
    model = Llama(cfg)
    x = torch.randint(0, 30, (2, 16))
    _, loss = model(x, x)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    prompt = x[:, :4]
    assert torch.equal(generate(model, prompt, 10, greedy=True), generate(model, prompt, 10, greedy=True,
                                                                         use_cache=False))


smollm2 = pytest.mark.skipif(not data.is_installed("smollm2"), reason="SmolLM2 is not installed")


@smollm2
def test_smollm2_in_the_course_code():
    """The one test that loads the real model (about 15 s): logits and greedy tokens as transformers."""
    from helpers.llama import load_smollm2

    ours, hf, tok = load_smollm2(block_size=256)
    assert ours.config.n_kv_head == 3 and ours.config.rope_theta == 100_000.0
    ids = torch.tensor([tok(data.shakespeare_text()[-600:])["input_ids"][:120]])
    with torch.no_grad():
        assert (ours(ids) - hf(ids).logits).abs().max().item() < 1e-3
    prompt = torch.tensor([tok("The capital of France is")["input_ids"]])
    want = hf.generate(prompt, max_new_tokens=8, do_sample=False)
    got = generate(ours, prompt, want.shape[1] - prompt.shape[1], greedy=True)
    assert torch.equal(got, want)


@smollm2
def test_generation_benchmark_writes_its_figures(tmp_path):
    """bench/generation.py end to end on a tiny random Llama (SmolLM2's tokenizer only, a few seconds)."""
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "generation.py"
    spec = importlib.util.spec_from_file_location("bench_generation", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "generation.json"
    bench.main(["--tiny", "--quick", "--new-tokens", "12", "--out", str(out)])
    r = json.loads(out.read_text())
    assert r["parity_max_abs_logit_diff"] < 1e-4 and r["greedy_match"] is True
    assert r["tokens_per_s"] > 0 and r["reference"]["tokens_per_s"] > 0 and r["kv_cache_speedup"] > 0
    assert r["goals"] == {} and r["new_tokens"] == 12


@pytest.mark.parametrize("n_kv", [1, 4])
def test_left_padded_prompts_generate_what_each_prompt_does_alone(n_kv):
    torch.manual_seed(0)
    model = Llama(LlamaConfig(vocab_size=50, block_size=32, n_layer=2, n_head=4, n_kv_head=n_kv, n_embd=32,
                              mlp_hidden=64)).eval()
    prompts = [torch.randint(1, 50, (t,)) for t in (3, 7, 5)]
    width = max(len(p) for p in prompts)
    idx = torch.zeros(len(prompts), width, dtype=torch.long)
    mask = torch.zeros_like(idx)
    for i, p in enumerate(prompts):
        idx[i, width - len(p):], mask[i, width - len(p):] = p, 1
    idx[mask == 0] = 7  # whatever the padding holds, no token may see it
    together = generate(model, idx, 6, greedy=True, attention_mask=mask)[:, width:]
    for row, p in zip(together, prompts):
        assert row.tolist() == generate(model, p[None], 6, greedy=True)[0, len(p):].tolist()
    # the logits too, not only the argmax: one prompt padded equals itself unpadded
    from helpers.generation import KVCache
    cache = KVCache(2, 16, pad=torch.tensor([width - len(prompts[0])]))
    padded = model(idx[:1], kv_cache=cache)[0, -1]
    alone = model(prompts[0][None])[0, -1]
    assert torch.allclose(padded, alone, atol=1e-5)


def test_left_padding_is_checked_before_anything_runs():
    model = Llama(LlamaConfig(vocab_size=20, block_size=8, n_layer=1, n_head=2, n_kv_head=1, n_embd=16, mlp_hidden=32))
    idx, left = torch.ones(2, 3, dtype=torch.long), torch.tensor([[0, 1, 1], [1, 1, 1]])
    with pytest.raises(ValueError, match="left padding"):
        generate(model, idx, 2, attention_mask=torch.tensor([[1, 1, 0], [1, 1, 1]]))
    with pytest.raises(ValueError, match="left padding"):
        generate(model, idx, 2, attention_mask=torch.tensor([[0, 0, 0], [1, 1, 1]]))
    with pytest.raises(ValueError, match="shape of idx"):
        generate(model, idx, 2, attention_mask=left[:, 1:])
    with pytest.raises(ValueError, match="do not fit"):
        generate(model, idx, 6, attention_mask=left)
    with pytest.raises(ValueError, match="cached path"):
        generate(model, idx, 2, attention_mask=left, use_cache=False)
    learned = Llama(LlamaConfig(vocab_size=20, block_size=8, n_layer=1, n_head=2, n_kv_head=1, n_embd=16,
                                mlp_hidden=32, pos="learned"))
    with pytest.raises(ValueError, match="relative positions"):
        generate(learned, idx, 2, attention_mask=left)
