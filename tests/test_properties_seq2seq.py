"""Property-based tests of translation and its infrastructure: parallel, metrics, beam_search, seq2seq,
distributed (on one process) and the exercise checker. Valid arguments drawn by hypothesis work; bad
ones get the course's own error naming the argument (see tests/_properties.py)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from _properties import (BAD_BOOL, BAD_POSITIVE, BAD_PROBABILITY, BAD_STR_LIST, FAST, FEW, TALLY, bad_int, bad_real,
                         covers, one_bad, refuses)
from helpers import beam_search as BS
from helpers import checks as CH
from helpers import distributed as DIST
from helpers import metrics as M
from helpers import parallel as PA
from helpers import seq2seq as S

torch.set_num_threads(1)
LINES = st.lists(st.text(alphabet="abc de.", min_size=1, max_size=12), min_size=1, max_size=4)
NOT_TEXT = st.one_of(st.integers(), st.none(), st.just(["a"]))


# --- metrics ------------------------------------------------------------------------------------


@covers(M, "corpus_bleu", "BLEU", "brevity_penalty", "tokenize_13a", "ngrams", "corpus_chrf")
@FAST
@given(hyps=LINES, order=st.integers(1, 4), bad=bad_int(1), bad_corpus=BAD_STR_LIST)
def test_bleu_and_chrf(hyps, order, bad, bad_corpus):
    bleu = M.corpus_bleu(hyps, hyps, max_order=order)
    assert isinstance(bleu, M.BLEU) and 0 <= bleu.score <= 100 + 1e-9
    refuses(lambda: M.corpus_bleu(hyps, hyps, max_order=bad), "max_order")
    refuses(lambda: M.corpus_bleu(bad_corpus, hyps), "hypotheses")
    refuses(lambda: M.corpus_bleu(hyps, hyps + ["x"]), "references")
    assert M.brevity_penalty(3, 3) == 1.0 and M.brevity_penalty(0, 3) == 0.0
    refuses(lambda: M.brevity_penalty(-1, 3), "hyp_len")
    assert M.tokenize_13a("Nay, stand!") == ["Nay", ",", "stand", "!"]
    refuses(lambda: M.tokenize_13a(7), "line")
    assert sum(M.ngrams(hyps[0], 1).values()) == len(hyps[0])
    refuses(lambda: M.ngrams(hyps[0], bad), "n")
    assert 0 <= M.corpus_chrf(hyps, hyps) <= 100
    refuses(lambda: M.corpus_chrf(hyps, hyps, char_order=bad), "char_order")
    refuses(lambda: M.corpus_chrf(hyps, hyps, beta=0), "beta")


@covers(M, "rouge", "rouge_tokens", "rouge_n", "rouge_l", "lcs_length")
@FAST
@given(preds=LINES, bad=bad_int(1), bad_text=NOT_TEXT)
def test_rouge(preds, bad, bad_text):
    scores = M.rouge(preds, preds, stem=False)
    assert all(0 <= v["f"] <= 1 + 1e-9 for v in scores.values())
    refuses(lambda: M.rouge(preds, preds, stem="no"), "stem")
    refuses(lambda: M.rouge(" ".join(preds), preds), "predictions")
    toks = M.rouge_tokens(preds[0], stem=False)
    refuses(lambda: M.rouge_tokens(bad_text), "text")
    if toks:
        assert M.rouge_n(toks, toks, 1)[2] == pytest.approx(1.0) and M.rouge_l(toks, toks)[2] == pytest.approx(1.0)
    refuses(lambda: M.rouge_n(toks, toks, bad), "n")
    refuses(lambda: M.rouge_n(preds[0], toks, 1), "prediction")
    refuses(lambda: M.rouge_l(toks, preds[0]), "reference")
    assert M.lcs_length("abcde", "ace") == 3
    refuses(lambda: M.lcs_length(3, "abc"), "a and b")


# --- beam search --------------------------------------------------------------------------------


def markov(table):
    def step(tokens, state):
        return table[tokens], state
    return step


@covers(BS, "greedy_decode", "beam_search", "check_beam", "map_tensors", "reorder_rows")
@FAST
@given(V=st.integers(3, 6), k=st.integers(1, 3), n=st.integers(1, 5),
       bad=one_bad(beam_width=bad_int(1), length_penalty=bad_real(0.0), max_new_tokens=bad_int(1),
                   bos_id=bad_int(0), eos_id=bad_int(0)))
def test_decoding(V, k, n, bad):
    table = torch.log_softmax(torch.randn(V, V, generator=torch.Generator().manual_seed(V)), -1)
    greedy = BS.greedy_decode(markov(table), torch.zeros(2, 1), 2, 0, 1, n)
    beams = BS.beam_search(markov(table), torch.zeros(2 * k, 1), 2, 0, 1, n, beam_width=k)
    assert len(greedy) == len(beams) == 2 and all(len(b) <= n for b in beams)
    name, value = bad
    kwargs = {"step": markov(table), "state": torch.zeros(2 * 2, 1), "n_sentences": 2, "bos_id": 0, "eos_id": 1,
              "max_new_tokens": 3, "beam_width": 2, name: value}
    refuses(lambda: BS.beam_search(**kwargs), name)
    refuses(lambda: BS.greedy_decode(None, torch.zeros(1, 1), 1, 0, 1, 3), "step")
    refuses(lambda: BS.greedy_decode(markov(table), torch.zeros(1, 1), 0, 0, 1, 3), "n_rows")
    BS.check_beam(k, 0.5)
    state = {"a": torch.arange(4), "b": [torch.ones(4, 2)], "c": 3}
    assert BS.map_tensors(state, lambda t: t * 2)["a"].tolist() == [0, 2, 4, 6]
    refuses(lambda: BS.map_tensors(state, "double"), "fn")
    assert BS.reorder_rows(state, torch.tensor([3, 0]))["a"].tolist() == [3, 0]
    refuses(lambda: BS.reorder_rows(state, [3, 0]), "index")
    refuses(lambda: BS.reorder_rows(state, torch.tensor([1.0])), "index")


# --- seq2seq ------------------------------------------------------------------------------------

TINY = dict(max_len=16, n_embd=8, n_head=2, n_enc_layer=1, n_dec_layer=1, dropout=0.0)


@covers(S, "CharTokenizer", "Seq2SeqConfig", "Seq2Seq", "CrossAttention", "CachedSelfAttention", "DecoderBlock")
@FAST
@given(lines=LINES, bad=one_bad(vocab_size=bad_int(1), max_len=bad_int(1), n_head=bad_int(1), n_embd=bad_int(1),
                                dropout=BAD_PROBABILITY, label_smoothing=BAD_PROBABILITY, copy=BAD_BOOL,
                                pad_id=bad_int(0)))
def test_seq2seq_parts(lines, bad):
    tok = S.CharTokenizer(lines)
    ids = tok.encode(lines[0])
    assert tok.decode(ids) == lines[0] and len(tok) > 4
    refuses(lambda: S.CharTokenizer(lines[0]), "texts")
    refuses(lambda: S.CharTokenizer([]), "text")
    refuses(lambda: tok.encode(ids), "text")
    refuses(lambda: tok.decode([len(tok)]), "ids")
    refuses(lambda: tok.batch(lines, max_len=0), "max_len")
    name, value = bad
    refuses(lambda: S.Seq2SeqConfig(**{**TINY, name: value}), f"Seq2SeqConfig.{name}")
    refuses(lambda: S.Seq2SeqConfig(**{**TINY, "n_head": 3}), "n_embd")
    model = S.Seq2Seq(S.Seq2SeqConfig(vocab_size=len(tok), **TINY))
    src, mask = tok.batch(lines)
    assert model.encode(src, mask) is not None
    refuses(lambda: S.Seq2Seq(TINY), "config")
    for cls in (S.CrossAttention, S.CachedSelfAttention, S.DecoderBlock):
        assert isinstance(cls(8, 2), torch.nn.Module)
        refuses(lambda: cls(8, 3), "n_embd")
        refuses(lambda: cls(8, 2, dropout=1.5), "dropout")
        refuses(lambda: cls("8", 2), "n_embd")


@covers(S, "pairs_to_batches", "batch_sampler", "translate", "cross_attention_map", "seconds_per_step",
        "sequence_logprob")
@FEW
@given(lines=LINES, beam=st.integers(1, 2), bad=bad_int(1))
def test_seq2seq_data_and_decoding(lines, beam, bad):
    from helpers.training import TrainConfig

    tok = S.CharTokenizer(lines + ["xyz"])
    torch.manual_seed(0)
    model = S.Seq2Seq(S.Seq2SeqConfig(vocab_size=len(tok), **TINY)).eval()
    pairs = [(s, s.upper()) for s in lines] * 2
    batches = S.pairs_to_batches(tok, pairs, 16)
    assert batches["src"].shape[0] + batches["dropped"] == len(pairs)
    refuses(lambda: S.pairs_to_batches(tok, pairs, bad), "max_len")
    refuses(lambda: S.pairs_to_batches(tok, "ab", 16), "pairs")
    get_batch = S.batch_sampler({"train": batches, "val": batches}, 2)
    src, src_mask, tgt_in, tgt_out = get_batch("train", torch.Generator().manual_seed(0))
    assert src.shape[0] == 2
    refuses(lambda: S.batch_sampler({"train": batches}, bad), "batch_size")
    refuses(lambda: S.batch_sampler([batches], 2), "splits")
    out = S.translate(model, tok, lines, beam_width=beam, max_new_tokens=4)
    assert len(out) == len(lines) and all(isinstance(o, str) for o in out)
    refuses(lambda: S.translate(model, tok, lines[0]), "sources")
    refuses(lambda: S.translate(model, tok, lines, beam_width=bad), "beam_width")
    refuses(lambda: S.translate(model, tok, lines, batch_size=bad), "batch_size")
    refuses(lambda: S.translate(model, None, lines), "tok")
    assert S.sequence_logprob(model, tok, lines, out).shape == (len(lines),)
    refuses(lambda: S.sequence_logprob(model, tok, lines, out[:-1]), "targets")
    refuses(lambda: S.sequence_logprob(model, tok, lines, out, batch_size=bad), "batch_size")
    refuses(lambda: S.sequence_logprob(model, None, lines, out), "tok")
    w = S.cross_attention_map(model, tok, lines[0], "AB")
    assert w.shape == (3, len(lines[0]) + 1)
    refuses(lambda: S.cross_attention_map(model, tok, lines[0], "AB", layer=5), "layer")
    refuses(lambda: S.cross_attention_map(model, tok, [lines[0]], "AB"), "source")
    cfg = TrainConfig(max_iters=1)
    assert S.seconds_per_step(model, get_batch, cfg, n=1, warmup=0) > 0
    refuses(lambda: S.seconds_per_step(model, get_batch, cfg, n=bad), "n")
    refuses(lambda: S.seconds_per_step(model, get_batch, cfg, clock="gpu"), "clock")


# --- parallel -----------------------------------------------------------------------------------


@covers(PA, "normalise", "similarity", "modern_lines", "folio_words", "align_play", "PlayAlignment")
@FAST
@given(word=st.text(alphabet="uvVUiea", min_size=1, max_size=8), bad=NOT_TEXT,
       threshold=bad_real(0.0, 1.0), bad_chars=bad_int(1))
def test_alignment(word, bad, threshold, bad_chars):
    assert PA.normalise(word) == PA.normalise(word.upper())
    assert 0 <= PA.similarity(word, word.lower()) <= 1
    refuses(lambda: PA.normalise(bad), "word")
    refuses(lambda: PA.similarity(bad, word), "folio")
    assert isinstance(PA.modern_lines("HAMLET. To be, or not to be.\n"), list)
    assert isinstance(PA.folio_words("Ham. To be, or not to be."), list)
    refuses(lambda: PA.modern_lines(bad), "text")
    refuses(lambda: PA.folio_words(bad), "text")
    result = PA.align_play("Ham. To be, or not to be.", "HAMLET. To be, or not to be.\n")
    assert isinstance(result, PA.PlayAlignment)
    refuses(lambda: PA.align_play("a", "b", threshold=threshold), "threshold")
    refuses(lambda: PA.align_play("a", "b", max_chars=bad_chars), "max_chars")
    refuses(lambda: PA.align_play(bad, "b"), "folio_text")


@covers(PA, "split_plays", "pair_files", "build_corpus", "parallel_corpus", "ParallelCorpus")
@FEW
@given(n=st.integers(6, 12), bad=bad_int(0))
def test_corpus_splits(tmp_path, n, bad):
    plays = [f"play{i}" for i in range(n)]
    split = PA.split_plays(plays, 2, 3, seed=1)
    assert sorted(split.values()).count("test") == 3 and sorted(split.values()).count("val") == 2
    refuses(lambda: PA.split_plays(plays, bad), "n_val")
    refuses(lambda: PA.split_plays(plays, 4, n), "validation")
    refuses(lambda: PA.split_plays("play1 play2", 0, 0), "plays")
    refuses(lambda: PA.pair_files(tmp_path / "none"), "folder")
    refuses(lambda: PA.build_corpus(threshold=2.0), "threshold")
    refuses(lambda: PA.build_corpus(plays="hamlet"), "plays")
    refuses(lambda: PA.parallel_corpus(n_val=bad), "n_val")
    corpus = PA.ParallelCorpus([("a", "b")], [], [], {"x": "train"}, {})
    assert corpus.split("train") == [("a", "b")]
    refuses(lambda: corpus.split("dev"), "split")


# --- distributed, on one process ------------------------------------------------------------------


@covers(DIST, "launched", "active", "world_size", "rank", "is_main", "local_device", "init", "wrap", "barrier",
        "broadcast_object", "gather_rng_states", "all_reduce_sum", "check_divides", "my_pieces")
@FAST
@given(n=st.integers(1, 9), accum=st.integers(1, 3), bad=bad_int(1))
def test_single_process(n, accum, bad):
    assert not DIST.active() and DIST.world_size() == 1 and DIST.rank() == 0 and DIST.is_main()
    assert isinstance(DIST.launched(), bool) and isinstance(DIST.local_device(), torch.device)
    assert DIST.init("cpu") is False
    refuses(lambda: DIST.init("gpu0"), "device")
    model = torch.nn.Linear(2, 2)
    assert DIST.wrap(model, torch.device("cpu")) is model
    refuses(lambda: DIST.wrap("model", "cpu"), "model")
    DIST.barrier()
    assert DIST.broadcast_object({"a": n}) == {"a": n} and len(DIST.gather_rng_states()) == 1
    t = torch.ones(3)
    assert DIST.all_reduce_sum(t) is t
    refuses(lambda: DIST.all_reduce_sum([1.0]), "t")
    DIST.check_divides(n * accum, accum)
    refuses(lambda: DIST.check_divides(bad, 1), "global_batch")
    refuses(lambda: DIST.check_divides(4, bad), "accum")
    if n >= accum:
        pieces = DIST.my_pieces((torch.arange(n),), accum)
        assert sum(len(p[0][0]) for p in pieces) == n and sum(w for _, w in pieces) == pytest.approx(1.0)
    refuses(lambda: DIST.my_pieces((torch.arange(n),), bad), "accum")
    refuses(lambda: DIST.my_pieces(torch.arange(n)), "batch")
    refuses(lambda: DIST.my_pieces((torch.arange(1),), 2), "batch of 1")


# --- the exercise checker ---------------------------------------------------------------------------


@covers(CH, "check", "verdict", "hint", "exercises", "exercise", "Exercise", "Verdict", "expect_close")
@FAST
@given(bad_id=st.one_of(st.text(max_size=5), st.integers(), st.floats(0, 20), st.none()),
       bad_limit=bad_real(0.0, low_open=True, optional=True))
def test_checks(capsys, bad_id, bad_limit):
    known = CH.exercises()
    assert "07.1" in known and isinstance(known["07.1"], CH.Exercise)

    def stub(logits, k):
        raise NotImplementedError

    v = CH.verdict("07.1", stub)
    assert isinstance(v, CH.Verdict) and v.status == "not attempted"
    CH.check("07.1", stub)
    assert "not attempted" in capsys.readouterr().out
    if bad_id not in known:
        refuses(lambda: CH.check(bad_id, stub), "exercise")
        refuses(lambda: CH.hint(bad_id), "exercise")
    refuses(lambda: CH.verdict("07.1", stub, time_limit=bad_limit), "time_limit")
    refuses(lambda: CH.exercise("07.1", "again")(lambda answer: None), "registered twice")
    CH.expect_close(torch.ones(2), torch.ones(2), "x")
    with pytest.raises(CH.CheckFailed, match="expected shape"):
        CH.expect_close(torch.ones(3), torch.ones(2), "x")


def test_zz_bad_inputs_all_got_a_clear_error():
    """Runs last in this file: every bad input tried above got the course's own error."""
    print(f"\nbad inputs tried: {TALLY['tried']}, clear errors: {TALLY['clear']}")
    assert TALLY["tried"] == TALLY["clear"] > 0
