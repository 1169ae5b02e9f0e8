"""helpers.generation: the filters, the samplers' bad inputs, and perplexity."""

from __future__ import annotations

import math

import pytest
import torch

from helpers.generation import check_sampling, generate, perplexity, sample_next, top_k_filter, top_p_filter
from helpers.transformer import GPT, GPTConfig


def test_top_k_keeps_the_k_largest():
    logits = torch.tensor([[1.0, 5.0, 3.0, 4.0, 2.0]])
    out = top_k_filter(logits, 2)
    assert torch.isfinite(out).tolist() == [[False, True, False, True, False]]
    assert torch.equal(top_k_filter(logits, 99), logits)


def test_top_p_keeps_the_smallest_nucleus():
    probs = torch.tensor([[0.5, 0.05, 0.3, 0.15]])
    logits = probs.log()
    keep = lambda p: torch.isfinite(top_p_filter(logits, p)).tolist()[0]  # noqa: E731
    assert keep(0.5) == [True, False, False, False]
    assert keep(0.6) == [True, False, True, False]
    assert keep(0.81) == [True, False, True, True]
    assert keep(1.0) == [True, True, True, True]
    assert keep(1e-6) == [True, False, False, False]  # the top token always stays


def test_sampling_follows_the_filtered_distribution():
    logits = torch.tensor([[0.0, 1.0, 2.0]]).expand(20000, 3)
    g = torch.Generator().manual_seed(0)
    got = torch.bincount(sample_next(logits, generator=g).flatten(), minlength=3) / 20000
    assert torch.allclose(got, logits[0].softmax(-1), atol=0.015)
    assert set(sample_next(logits, top_k=1, generator=g).flatten().tolist()) == {2}
    assert torch.equal(sample_next(logits[:2], greedy=True), torch.tensor([[2], [2]]))


@pytest.mark.parametrize("kwargs, match", [
    ({"temperature": 0}, "temperature"), ({"temperature": -1.0}, "temperature"),
    ({"top_p": 0.0}, "top_p"), ({"top_p": 1.5}, "top_p"), ({"top_k": 0}, "top_k")])
def test_bad_sampling_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_sampling(**kwargs)
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=1, n_embd=8))
    with pytest.raises(ValueError, match=match):
        generate(model, torch.zeros(1, 1, dtype=torch.long), 3, **kwargs)


def test_generate_crops_to_block_size_and_is_seeded():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=1, n_embd=8))
    a = generate(model, torch.zeros(2, 1, dtype=torch.long), 20, generator=torch.Generator().manual_seed(1))
    b = generate(model, torch.zeros(2, 1, dtype=torch.long), 20, generator=torch.Generator().manual_seed(1))
    assert a.shape == (2, 21) and torch.equal(a, b)


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size():
    class Uniform(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, idx):
            return torch.zeros(*idx.shape, 7) + self.w

    ids = torch.randint(7, (103,))
    out = perplexity(Uniform(), ids, block_size=10, n_chars=204)
    assert out["tokens"] == 102
    assert out["ppl_token"] == pytest.approx(7.0)
    assert out["ppl_char"] == pytest.approx(math.exp(102 * math.log(7) / 204))


# ---- the KV cache --------------------------------------------------------------------------------


def test_gpt_cached_generation_equals_uncached():
    from helpers.generation import KVCache

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=17, block_size=24, n_layer=2, n_head=2, n_embd=16))
    prompt = torch.randint(0, 17, (3, 4))
    a = generate(model, prompt, 20, greedy=True, use_cache=False)
    b = generate(model, prompt, 20, greedy=True)
    assert torch.equal(a, b)
    a = generate(model, prompt, 20, top_p=0.9, generator=torch.Generator().manual_seed(5), use_cache=False)
    b = generate(model, prompt, 20, top_p=0.9, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    cache = KVCache(2, 24)
    with torch.no_grad():
        first = model(b[:, :4], kv_cache=cache)
        assert first.shape == (3, 1, 17) and cache.pos == 4 and cache.k.shape == (2, 3, 2, 24, 8)
        for t in range(4, 23):
            step = model(b[:, t:t + 1], kv_cache=cache)
            assert cache.pos == t + 1  # the cache grows by one position per token
            assert (step[:, -1] - model(b[:, :t + 1])[:, -1]).abs().max() < 1e-5  # same distribution
    with pytest.raises(ValueError, match="block_size"):
        model(b[:, :2], kv_cache=cache)


def test_generate_past_the_context_and_stop_token():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=1, n_embd=8))
    out = generate(model, torch.zeros(1, 3, dtype=torch.long), 30, greedy=True)  # refills the cache
    assert out.shape == (1, 33)
    with pytest.warns(UserWarning, match="last 8 tokens"):
        assert generate(model, torch.zeros(1, 12, dtype=torch.long), 2).shape == (1, 10)
    with pytest.raises(ValueError, match="empty"):
        generate(model, torch.zeros(2, 0, dtype=torch.long), 2)
    first = generate(model, torch.zeros(1, 3, dtype=torch.long), 1, greedy=True)[0, -1].item()
    stopped = generate(model, torch.zeros(1, 3, dtype=torch.long), 10, greedy=True, stop_token=first)
    assert stopped.shape == (1, 4)


def test_generated_tokens_can_feed_training():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=1, n_embd=8))
    out = generate(model, torch.zeros(2, 2, dtype=torch.long), 5, greedy=True)
    assert model.training  # generate puts the model back as it was
    _, loss = model(out[:, :-1], out[:, 1:])
    loss.backward()  # an inference-mode tensor would refuse this
