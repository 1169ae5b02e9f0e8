"""The encoder-decoder: masks, teacher forcing, the KV cache, greedy decoding and beam search."""

import itertools
import math
import random

import pytest
import torch

from helpers.beam_search import beam_search, greedy_decode
from helpers.pretraining import IGNORE_INDEX, TrainConfig, train
from helpers.seq2seq import (CharTokenizer, Seq2Seq, Seq2SeqConfig, batch_sampler, cross_attention_map,
                             pairs_to_batches, sequence_logprob, translate)

WORDS = "love liue heauen giue vnto selfe king night good lord".split()


def toy_pairs(n, seed=0):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        s = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))
        out.append((s, s.replace("u", "v").capitalize()))
    return out


def small_model(tok, seed=0, **kw):
    torch.manual_seed(seed)
    cfg = dict(vocab_size=len(tok), max_len=40, n_embd=32, n_head=4, n_enc_layer=2, n_dec_layer=2, dropout=0.0)
    return Seq2Seq(Seq2SeqConfig(**{**cfg, **kw})).eval()


@pytest.fixture(scope="module")
def tok():
    return CharTokenizer([s + t for s, t in toy_pairs(200)])


def test_tokenizer_pads_and_refuses_or_crops_long_text(tok):
    ids, mask = tok.batch(["love", "king night"])
    assert ids.shape == (2, 11) and mask[0].tolist() == [1] * 5 + [0] * 6
    assert tok.decode(ids[1]) == "king night" and ids[1, 10] == tok.eos_id
    assert tok.encode("l?", eos=False)[1] == tok.unk_id
    with pytest.raises(ValueError, match="longer than the model's context of 4"):
        tok.batch(["love liue"], max_len=4)
    with pytest.warns(UserWarning, match="cropped"):
        ids, _ = tok.batch(["love liue"], max_len=4, crop=True)
    assert ids.shape == (1, 4) and ids[0, -1] == tok.eos_id


def test_padding_does_not_change_the_output(tok):
    model = small_model(tok)
    src, mask = tok.batch(["love king", "giue"])  # the second row is padded
    tgt, _ = tok.batch(["Love king", "Give"], bos=True)
    batched = model(src, mask, tgt[:, :-1])
    alone_src, alone_mask = tok.batch(["giue"])
    alone_tgt, _ = tok.batch(["Give"], bos=True)
    alone = model(alone_src, alone_mask, alone_tgt[:, :-1])
    n = alone.shape[1]
    torch.testing.assert_close(batched[1, :n], alone[0], atol=1e-5, rtol=1e-4)


def test_decoder_is_causal_and_loss_ignores_pads(tok):
    model = small_model(tok)
    src, mask = tok.batch(["love king"])
    tgt, _ = tok.batch(["Love king"], bos=True)
    a = model(src, mask, tgt[:, :-1])
    changed = tgt[:, :-1].clone()
    changed[0, 5] = tok.stoi["Q"] if "Q" in tok.stoi else tok.unk_id
    b = model(src, mask, changed)
    torch.testing.assert_close(a[0, :5], b[0, :5])  # positions before the change see nothing of it
    assert not torch.allclose(a[0, 5:], b[0, 5:])
    out = tgt[:, 1:].clone()
    logits, loss = model(src, mask, tgt[:, :-1], out)
    padded_out = torch.cat([out, torch.full((1, 3), IGNORE_INDEX)], dim=1)
    padded_in = torch.cat([tgt[:, :-1], torch.zeros(1, 3, dtype=torch.long)], dim=1)
    _, loss2 = model(src, mask, padded_in, padded_out)
    assert loss2.item() == pytest.approx(loss.item(), rel=1e-5)


@pytest.mark.parametrize("copy", [True, False], ids=["copy-head", "no-copy-head"])
def test_cached_and_uncached_greedy_agree_and_beam_1_is_greedy(tok, copy):
    model = small_model(tok, seed=3, tie_embeddings=False, label_smoothing=0.1, copy=copy)
    sources = [s for s, _ in toy_pairs(12, seed=1)]
    cached = translate(model, tok, sources, use_cache=True, max_new_tokens=20)
    uncached = translate(model, tok, sources, use_cache=False, max_new_tokens=20)
    assert cached == uncached
    src, mask = tok.batch(sources)
    state = model.start_state(src, mask)
    beam1 = beam_search(model.step, state, len(sources), tok.bos_id, tok.eos_id, 20, beam_width=1)
    assert [tok.decode(ids) for ids in beam1] == cached
    with pytest.raises(ValueError, match="beam_width"):
        translate(model, tok, sources, beam_width=0)
    with pytest.raises(ValueError, match="length_penalty"):
        translate(model, tok, sources, beam_width=2, length_penalty=-1)
    with pytest.raises(ValueError, match="max_len"):
        model(src, mask, torch.zeros(1, 50, dtype=torch.long))


@pytest.mark.parametrize("copy", [True, False], ids=["copy-head", "no-copy-head"])
def test_sequence_logprob_is_what_greedy_decoding_scores(tok, copy):
    """The teacher-forced log-probability of the greedy output equals the sum of the log-probabilities
    that decoding one character at a time gave each of its choices (so the two can be compared with a
    reference's), and padding in a batch changes nothing."""
    model = small_model(tok, seed=4, copy=copy)
    sources = [s for s, _ in toy_pairs(6, seed=2)]
    outputs = translate(model, tok, sources, max_new_tokens=20)
    src, mask = tok.batch(sources)
    state, total = model.start_state(src, mask), torch.zeros(len(sources))
    tokens, alive = torch.full((len(sources),), tok.bos_id), torch.ones(len(sources), dtype=torch.bool)
    with torch.no_grad():
        for _ in range(21):
            logits, state = model.step(tokens, state)
            logp = logits.log_softmax(-1)
            tokens = logp.argmax(-1)
            total += torch.where(alive, logp.gather(1, tokens[:, None])[:, 0], torch.zeros(()))
            alive &= tokens != tok.eos_id
    finished = ~alive  # outputs cut at max_new_tokens have no <eos> to score
    got = sequence_logprob(model, tok, sources, outputs)
    torch.testing.assert_close(got[finished], total[finished], atol=1e-4, rtol=1e-4)
    one_by_one = torch.cat([sequence_logprob(model, tok, [s], [o]) for s, o in zip(sources, outputs)])
    torch.testing.assert_close(got, one_by_one, atol=1e-5, rtol=1e-5)
    assert sequence_logprob(model, tok, sources, outputs, batch_size=2).shape == (len(sources),)
    with pytest.raises(ValueError, match="targets"):
        sequence_logprob(model, tok, sources, outputs[:-1])
    with pytest.raises(TypeError, match="sources"):
        sequence_logprob(model, tok, sources[0], outputs[0])


def markov_step(table):
    """A toy decoder: the next token's log-probabilities depend on the last token only."""
    def step(tokens, state):
        return table[tokens], state
    return step


def brute_force_best(table, bos, eos, max_new, length_penalty):
    vocab = table.shape[0]
    best = (-math.inf, None)
    for n in range(1, max_new + 1):
        for seq in itertools.product(range(vocab), repeat=n):
            if eos in seq[:-1] or (seq[-1] != eos and n < max_new):
                continue
            prev, score = bos, 0.0
            for t in seq:
                score += table[prev, t].item()
                prev = t
            best = max(best, (score / n ** length_penalty, list(seq)), key=lambda x: x[0])
    return best


def test_beam_search_finds_what_greedy_misses():
    torch.manual_seed(0)
    bos, eos, V = 0, 1, 4
    for trial in range(3):
        table = torch.log_softmax(torch.randn(V, V) * 2, dim=-1)
        step = markov_step(table)
        want_score, want = brute_force_best(table, bos, eos, 4, 0.0)
        got, scores = beam_search(step, torch.zeros(1 * 64, 1), 1, bos, eos, 4, beam_width=64,
                                  length_penalty=0.0, return_scores=True)
        assert got[0] == [t for t in want if t != eos] and scores[0] == pytest.approx(want_score, abs=1e-5)
    # a case where greedy is wrong: the likeliest first token leads to a poor second one
    table = torch.log(torch.tensor([[0.0, 0.0, 0.55, 0.45],
                                    [1.0, 0.0, 0.0, 0.0],
                                    [0.0, 0.34, 0.33, 0.33],
                                    [0.0, 0.98, 0.01, 0.01]]) + 1e-12)
    greedy = greedy_decode(markov_step(table), torch.zeros(1, 1), 1, bos, eos, 2)
    beam = beam_search(markov_step(table), torch.zeros(2, 1), 1, bos, eos, 2, beam_width=2, length_penalty=0.0)
    assert greedy == [[2]] and beam == [[3]]  # 0.55 * 0.34 < 0.45 * 0.98


def test_a_small_model_learns_to_modernise(tok):
    torch.manual_seed(0)
    pairs = toy_pairs(600)
    model = small_model(tok, n_embd=48).train()
    splits = {"train": pairs_to_batches(tok, pairs[:500], 40), "val": pairs_to_batches(tok, pairs[500:], 40)}
    cfg = TrainConfig(max_iters=150, eval_interval=150, eval_iters=2, learning_rate=3e-3, warmup_iters=10)
    history = train(model, batch_sampler(splits, 32), cfg, progress=False)
    assert history["val"][-1] < 1.0  # from ln(36) = 3.6 untrained
    hyps = translate(model, tok, [s for s, _ in pairs[500:520]], beam_width=2)
    right = sum(h == t for h, (_, t) in zip(hyps, pairs[500:520]))
    assert right >= 3, list(zip(hyps, pairs[500:520]))[:3]  # untrained: none right
    for layer in (-1, "copy"):
        att = cross_attention_map(model, tok, "love", "Love", layer=layer)
        assert att.shape == (5, 5) and torch.allclose(att.sum(-1), torch.ones(5), atol=1e-5)
    # the copy head learned to look at the same place: output character i copies source character i
    assert (cross_attention_map(model, tok, "love", "Love", layer="copy").argmax(-1)[1:4] == torch.arange(1, 4)).all()


def test_benchmark_quick_run_writes_its_figures(tmp_path):
    import importlib.util
    import json
    from pathlib import Path

    from helpers import data

    if not data.is_installed("shakespeare"):
        pytest.skip("needs the shakespeare package")
    path = Path(__file__).resolve().parents[1] / "bench" / "seq2seq.py"
    spec = importlib.util.spec_from_file_location("bench_seq2seq", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "seq2seq.json"
    bench.main(["--quick", "--seconds", "2", "--test-pairs", "8", "--beam", "2", "--out", str(out)])
    tr = json.loads(out.read_text())["translation"]
    assert {"copy_bleu", "copy_chrf", "bleu", "chrf", "beam_bleu", "train_seconds", "sentences_per_s"} <= set(tr)
    assert 0 <= tr["bleu"] <= 100 and tr["sentences_per_s"] > 0 and tr["test_pairs"] == 8
