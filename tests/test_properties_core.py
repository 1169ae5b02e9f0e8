"""Property-based tests of every public function of helpers.validation, device, attention,
visualisation and report: valid arguments drawn by hypothesis work, and bad ones are refused with
the course's own error naming the argument (see tests/_properties.py)."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from _properties import (BAD_BOOL, BAD_POSITIVE, BAD_PROBABILITY, BAD_STR_LIST, FAST, FEW, NOT_A_NUMBER, TALLY,
                         bad_int, covers, one_bad, refuses)
from helpers import attention as A
from helpers import device as D
from helpers import report as R
from helpers import validation as V
from helpers import visualisation as VIS

matplotlib.use("Agg")
NAME = st.from_regex(r"[a-z_]{1,10}", fullmatch=True)
BAD_DEVICE = st.one_of(st.sampled_from(["gpu", "tpu", "CPU!", "cuda0", ""]), st.integers(), st.none(), st.just([]))


# --- validation: every check names the argument it is given -----------------------------------


@covers(V, "integer", "positive_int", "non_negative_int")
@FAST
@given(name=NAME, good=st.integers(1, 10**6), bad=bad_int(1))
def test_integer_checks(name, good, bad):
    assert V.positive_int(name, good) == good and V.non_negative_int(name, np.int32(good)) == good
    assert V.integer(name, float(good), low=good, high=good) == good
    refuses(lambda: V.positive_int(name, bad), name)


@covers(V, "real", "positive", "non_negative", "probability")
@FAST
@given(name=NAME, p=st.floats(0, 1), bad=BAD_PROBABILITY, bad_pos=BAD_POSITIVE)
def test_real_checks(name, p, bad, bad_pos):
    assert V.probability(name, np.float64(p)) == p and V.non_negative(name, p) == p
    assert V.real(name, p, low=-1, high=2) == p
    refuses(lambda: V.probability(name, bad), name)
    refuses(lambda: V.positive(name, bad_pos), name)


@covers(V, "boolean", "one_of", "string")
@FAST
@given(name=NAME, flag=st.booleans(), bad=BAD_BOOL, text=st.text(min_size=1).filter(str.strip))
def test_boolean_choice_and_string_checks(name, flag, bad, text):
    assert V.boolean(name, np.bool_(flag)) is flag
    refuses(lambda: V.boolean(name, bad), name)
    assert V.one_of(name, text, [text, "other"]) == text
    refuses(lambda: V.one_of(name, text + "?", [text]), name)
    assert V.string(name, text) == text
    refuses(lambda: V.string(name, [text]), name)
    refuses(lambda: V.string(name, "  "), name)


@covers(V, "list_of_str", "tokenised_corpus", "warn_or_refuse_one_word_documents")
@FAST
@given(name=NAME, words=st.lists(st.text(max_size=5), min_size=1, max_size=5), bad=BAD_STR_LIST)
def test_list_and_corpus_checks(name, words, bad):
    assert V.list_of_str(name, tuple(words)) == words
    refuses(lambda: V.list_of_str(name, bad), name)
    corpus = [words + ["x", "y"]] * 3
    assert V.tokenised_corpus(name, corpus) is corpus
    V.warn_or_refuse_one_word_documents(name, corpus)  # no warning for real documents
    refuses(lambda: V.tokenised_corpus(name, " ".join(words)), name)
    refuses(lambda: V.tokenised_corpus(name, words), name)  # documents as strings
    refuses(lambda: V.warn_or_refuse_one_word_documents(name, [[w] for w in words]), name)


@covers(V, "tensor", "token_ids")
@FAST
@given(name=NAME, ids=st.lists(st.integers(0, 99), min_size=1, max_size=8),
       bad=st.one_of(st.lists(st.floats(0.5, 9.5), min_size=1, max_size=3), st.text(max_size=4),
                     st.lists(st.integers(-9, -1), min_size=1, max_size=3), st.lists(st.integers(100, 999),
                                                                                        min_size=1, max_size=3)))
def test_tensor_and_token_id_checks(name, ids, bad):
    assert V.token_ids(name, np.array(ids), vocab_size=100).tolist() == ids
    refuses(lambda: V.token_ids(name, bad, vocab_size=100), name)
    t = torch.tensor(ids)
    assert V.tensor(name, t, dtype="integer", ndim=1) is t
    refuses(lambda: V.tensor(name, t, dtype="float"), name)
    refuses(lambda: V.tensor(name, t, ndim=(2, 3)), name)
    refuses(lambda: V.tensor(name, ids), name)


@covers(V, "file_path", "dir_path", "device", "callable_")
@FAST
@given(name=NAME, bad=st.one_of(st.integers(), st.none(), st.just("")), bad_device=BAD_DEVICE)
def test_path_device_and_callable_checks(tmp_path, name, bad, bad_device):
    f = tmp_path / "f.txt"
    f.write_text("x")
    assert V.file_path(name, str(f)) == f and V.dir_path(name, str(tmp_path), writable=True) == tmp_path
    refuses(lambda: V.file_path(name, tmp_path), name)
    refuses(lambda: V.dir_path(name, f), name)
    refuses(lambda: V.file_path(name, bad), name)
    assert V.device(name, "cpu") == torch.device("cpu")
    refuses(lambda: V.device(name, bad_device), name)
    assert V.callable_(name, len) is len
    refuses(lambda: V.callable_(name, bad), name)


@covers(V, "config_fields", "multiple_of")
@FAST
@given(heads=st.integers(1, 8), width=st.integers(1, 8), bad=bad_int(1), bad_p=BAD_PROBABILITY)
def test_config_checks(heads, width, bad, bad_p):
    from dataclasses import dataclass

    @dataclass
    class Config:
        size: int = 4
        dropout: float = 0.1
        flag: bool = True

    cfg = V.config_fields(Config(size=np.int64(heads)), positive_ints=("size",), probabilities=("dropout",),
                          booleans=("flag",))
    assert type(cfg.size) is int and cfg.size == heads
    refuses(lambda: V.config_fields(Config(size=bad), positive_ints=("size",)), "Config.size")
    refuses(lambda: V.config_fields(Config(dropout=bad_p), probabilities=("dropout",)), "Config.dropout")
    refuses(lambda: V.config_fields(Config(flag="yes"), booleans=("flag",)), "Config.flag")
    assert V.multiple_of("n_embd", heads * width, "n_head", heads) == heads * width
    if width > 1:
        refuses(lambda: V.multiple_of("n_embd", heads * width + 1, "n_head", width), "n_embd")


@covers(V, "losses_ok")
@FAST
@given(losses=st.lists(st.floats(0, 10), min_size=1, max_size=5), bad=st.sampled_from([math.nan, math.inf]))
def test_losses_ok(losses, bad):
    V.losses_ok(losses, "step 3", "hint")
    refuses(lambda: V.losses_ok(losses + [bad], "step 3", "hint"), "step 3", error=V.TrainingError)
    refuses(lambda: V.losses_ok([], "step 3", "hint"), "step 3", error=V.TrainingError)


# --- device ------------------------------------------------------------------------------------


@covers(D, "get_device", "describe", "autocast_dtype", "autocast", "needs_grad_scaler")
@FAST
@given(bad=BAD_DEVICE)
def test_device_functions(bad):
    dev = D.get_device("cpu")
    assert dev == torch.device("cpu") and D.describe("cpu")["device"] == "cpu"
    assert D.autocast_dtype(dev) is None and not D.needs_grad_scaler("cpu")
    with D.autocast("cpu"):
        pass
    refuses(lambda: D.get_device(bad), "prefer") if bad is not None else None
    for fn in (D.describe, D.autocast_dtype, D.autocast, D.needs_grad_scaler):
        if bad is not None:
            refuses(lambda: fn(bad), "device")


@covers(D, "seed_everything", "cpu_threads")
@FAST
@given(seed=st.integers(0, 2**32 - 1), bad=bad_int(0, 2**32 - 1), n=st.integers(1, 4), bad_n=bad_int(1, optional=True))
def test_seeding_and_threads(seed, bad, n, bad_n):
    assert isinstance(D.seed_everything(seed), torch.Generator)
    refuses(lambda: D.seed_everything(bad), "seed")
    refuses(lambda: D.seed_everything(0, deterministic="yes"), "deterministic")
    before = torch.get_num_threads()
    with D.cpu_threads(n):
        assert torch.get_num_threads() == n
    assert torch.get_num_threads() == before
    refuses(lambda: D.cpu_threads(bad_n).__enter__(), "n")


# --- attention ---------------------------------------------------------------------------------

SHAPES = st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6), st.integers(1, 8))  # B, Lq, Lk, d


@covers(A, "attention", "manual_attention")
@FAST
@given(shape=SHAPES, causal=st.booleans(),
       bad=one_bad(dropout_p=BAD_PROBABILITY, is_causal=BAD_BOOL, impl=st.text(max_size=5),
                   return_weights=BAD_BOOL, scale=NOT_A_NUMBER))
def test_attention(shape, causal, bad):
    B, Lq, Lk, d = shape
    q, k, v = torch.randn(B, Lq, d), torch.randn(B, Lk, d), torch.randn(B, Lk, d + 1)
    out, w = A.attention(q, k, v, is_causal=causal, return_weights=True)
    assert out.shape == (B, Lq, d + 1) and torch.allclose(A.attention(q, k, v, is_causal=causal), out, atol=1e-5)
    assert torch.allclose(A.manual_attention(q, k, v, is_causal=causal)[1], w)
    name, value = bad
    if not (name == "impl" and value in A.IMPLS):
        refuses(lambda: A.attention(q, k, v, **{name: value}), name)
    refuses(lambda: A.manual_attention(q.long(), k, v), "query")
    refuses(lambda: A.attention(q, torch.randn(B, Lk, d + 1), v), "query and key")
    refuses(lambda: A.attention(q, k, v, mask=torch.ones(B, Lq, Lk + 1, dtype=torch.bool)), "mask")


@covers(A, "causal_mask", "padding_mask")
@FAST
@given(q=st.integers(1, 8), k=st.integers(1, 8), bad=bad_int(1),
       mask=st.lists(st.lists(st.integers(0, 1), min_size=4, max_size=4), min_size=1, max_size=3))
def test_masks(q, k, bad, mask):
    m = A.causal_mask(q, k)
    assert m.shape == (q, k) and torch.equal(m, m.tril())
    refuses(lambda: A.causal_mask(bad), "q_tokens")
    if bad is not None:  # k_tokens=None is valid: as many keys as queries
        refuses(lambda: A.causal_mask(q, bad), "k_tokens")
    am = torch.tensor(mask)
    assert A.padding_mask(am).shape == (len(mask), 1, 1, 4)
    refuses(lambda: A.padding_mask(am + 2), "attention_mask")
    refuses(lambda: A.padding_mask(am[None]), "attention_mask")
    refuses(lambda: A.padding_mask(mask), "attention_mask")


@covers(A, "split_heads", "merge_heads", "MultiHeadAttention")
@FAST
@given(heads=st.integers(1, 4), head_dim=st.integers(1, 4), T=st.integers(1, 5),
       bad=one_bad(n_embd=bad_int(1), n_head=bad_int(1), dropout=BAD_PROBABILITY, bias=BAD_BOOL,
                   impl=st.text(max_size=5).filter(lambda s: s not in A.IMPLS)))
def test_heads(heads, head_dim, T, bad):
    C = heads * head_dim
    x = torch.randn(2, T, C)
    assert torch.equal(A.merge_heads(A.split_heads(x, heads)), x)
    refuses(lambda: A.split_heads(x, C + 1), "n_head")
    refuses(lambda: A.merge_heads(x), "x")
    mha = A.MultiHeadAttention(C, heads)
    y, w = mha(x, is_causal=True, need_weights=True)
    assert y.shape == x.shape and w.shape == (2, heads, T, T)
    refuses(lambda: mha(x[..., :-1] if C > 1 else x.long()), "input", "x")
    name, value = bad
    kwargs = {"n_embd": C, "n_head": heads, name: value}
    refuses(lambda: A.MultiHeadAttention(**kwargs), name)


@covers(A, "sinusoidal_positions", "SinusoidalPositionalEncoding", "LearnedPositionalEncoding")
@FAST
@given(n=st.integers(1, 20), half=st.integers(1, 8), bad=bad_int(1))
def test_positions(n, half, bad):
    pe = A.sinusoidal_positions(n, 2 * half)
    assert pe.shape == (n, 2 * half) and pe.abs().max() <= 1
    refuses(lambda: A.sinusoidal_positions(bad, 2), "n_positions")
    refuses(lambda: A.sinusoidal_positions(4, 2 * half + 1), "n_embd")
    for cls in (A.SinusoidalPositionalEncoding, A.LearnedPositionalEncoding):
        layer = cls(n, 2 * half)
        x = torch.zeros(1, n, 2 * half)
        assert layer(x).shape == x.shape
        refuses(lambda: layer(torch.zeros(1, n + 1, 2 * half)), "tokens")
        refuses(lambda: layer(torch.zeros(1, n, 2 * half + 1)), "expected input")
        refuses(lambda: cls(bad, 2), "max_positions")


@covers(A, "time_ms", "peak_memory_mb")
@FEW
@given(repeats=st.integers(1, 3), bad=one_bad(fn=st.one_of(st.integers(), st.none()), repeats=bad_int(1),
                                                warmup=bad_int(0), device=BAD_DEVICE))
def test_cost_measures(repeats, bad):
    fn = lambda: torch.ones(64, 64) @ torch.ones(64, 64)  # noqa: E731
    assert A.time_ms(fn, repeats=repeats, warmup=0) >= 0
    assert A.peak_memory_mb(fn) >= 0
    name, value = bad
    refuses(lambda: A.time_ms(**{"fn": fn, name: value}), name)
    if name in ("fn", "device"):
        refuses(lambda: A.peak_memory_mb(**{"fn": fn, name: value}), name)


# --- visualisation -----------------------------------------------------------------------------

TOKENS = st.lists(st.text(alphabet="abc", min_size=1, max_size=3), min_size=1, max_size=5)


@covers(VIS, "attention_heatmap", "attention_grid")
@FAST
@given(tokens=TOKENS, heads=st.integers(1, 3), bad_tokens=BAD_STR_LIST, bad_layer=bad_int(0, 1))
def test_heatmaps(tokens, heads, bad_tokens, bad_layer):
    import matplotlib.pyplot as plt

    T = len(tokens)
    w = torch.rand(T, T)
    assert VIS.attention_heatmap(w, tokens, title="t") is not None
    refuses(lambda: VIS.attention_heatmap(w, bad_tokens), "tokens")
    refuses(lambda: VIS.attention_heatmap(w[None], tokens), "weights")
    refuses(lambda: VIS.attention_heatmap("weights", tokens), "weights")
    layers = [torch.rand(heads, T, T) for _ in range(2)]
    assert VIS.attention_grid(layers, tokens, layer=1) is not None
    refuses(lambda: VIS.attention_grid(layers, tokens, layer=bad_layer), "layer")
    refuses(lambda: VIS.attention_grid(layers, tokens, layer=0, heads=[heads]), "heads")
    refuses(lambda: VIS.attention_grid(layers, tokens, layer=0, cols=0), "cols")
    refuses(lambda: VIS.attention_grid([], tokens, layer=0), "attentions")
    plt.close("all")


@covers(VIS, "interactive_plot", "attention_viewer", "interactive_text", "label_points")
@FEW
@given(tokens=TOKENS, bad=one_bad(draw=st.one_of(st.integers(), st.none()),
                                  figsize=st.one_of(st.just((0, 3)), st.just("big"), st.just((1, 2, 3)))))
def test_widgets(tokens, bad):
    import ipywidgets as widgets

    slider = widgets.IntSlider(1, 0, 3)
    plot = VIS.interactive_plot(lambda ax, k: ax.plot([0, k]), k=slider)
    assert bytes(plot.image.value).startswith(b"\x89PNG")
    name, value = bad
    refuses(lambda: VIS.interactive_plot(**{"draw": lambda ax, k: None, "k": slider, name: value}), name)
    refuses(lambda: VIS.interactive_plot(lambda ax, k: None, k=3), "control k")
    T = len(tokens)
    attn = [torch.rand(2, T, T)]
    assert VIS.attention_viewer(tokens, attn) is not None
    refuses(lambda: VIS.attention_viewer(tokens + ["x"], attn), "tokens")
    refuses(lambda: VIS.attention_viewer(" ".join(tokens), attn), "tokens")
    text = VIS.interactive_text(lambda k: print("k is", k), k=slider)
    assert "k is 1" in text.text.value
    refuses(lambda: VIS.interactive_text(None, k=slider), "show")
    refuses(lambda: VIS.interactive_text(lambda k: None, k=3), "control k")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    points = np.arange(2 * T, dtype=float).reshape(T, 2)
    VIS.label_points(ax, points, tokens)
    assert len(ax.texts) == T
    refuses(lambda: VIS.label_points(ax, points, tokens + ["x"]), "points")
    refuses(lambda: VIS.label_points(ax, points, " ".join(tokens)), "labels")
    plt.close(fig)


# --- report ------------------------------------------------------------------------------------


@covers(R, "record", "read", "claim", "read_claims")
@FAST
@given(name=st.text(min_size=1, max_size=10).filter(str.strip), value=st.one_of(st.integers(), st.floats(),
                                                                                 st.text(max_size=5)),
       bad=st.one_of(st.integers(), st.none(), st.just("  ")))
def test_report(tmp_path, monkeypatch, name, value, bad):
    path = tmp_path / "report.jsonl"
    path.unlink(missing_ok=True)
    monkeypatch.setenv(R.REPORT_ENV, str(path))
    assert R.record(name, value) is value
    got = R.read(path)[name]
    assert got == value or (isinstance(value, float) and not math.isfinite(value))
    refuses(lambda: R.record(bad, value), "name")
    refuses(lambda: R.read(tmp_path), "path")
    refuses(lambda: R.read(bad), "path")
    assert R.read(tmp_path / "none.jsonl") == {}
    monkeypatch.setenv("COURSE_SMOKE", "1")  # claims stay silent in test mode
    assert R.claim(name, value, "detail") is bool(value)
    assert R.read_claims(path)[-1] == {"claim": name, "held": bool(value), "detail": "detail"}
    refuses(lambda: R.claim(bad, True), "name")
    refuses(lambda: R.read_claims(tmp_path), "path")
    assert R.read_claims(tmp_path / "none.jsonl") == []


# --- (tests/test_properties_coverage.py checks that every public name has a property test) ---


def test_zz_bad_inputs_all_got_a_clear_error():
    """Runs last in this file: every bad input tried above got the course's own error."""
    print(f"\nbad inputs tried: {TALLY['tried']}, clear errors: {TALLY['clear']}")
    assert TALLY["tried"] == TALLY["clear"] > 0
