"""Property-based tests of the model modules: training, batches, checkpoint, generation, transformer,
encoder, llama, pretraining, tokenization and contextual. Valid arguments drawn by hypothesis work; bad
ones get the course's own error naming the argument (see tests/_properties.py)."""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from _properties import (BAD_BOOL, BAD_POSITIVE, BAD_PROBABILITY, BAD_STR_LIST, FAST, FEW, NOT_A_NUMBER, TALLY,
                         bad_int, bad_real, covers, one_bad, refuses)
from helpers import batches as BA
from helpers import checkpoint as CK
from helpers import contextual as C
from helpers import encoder as E
from helpers import generation as G
from helpers import llama as L
from helpers import pretraining as P
from helpers import tokenization as TOK
from helpers import training as TR
from helpers import transformer as T
from helpers.validation import CourseError

torch.set_num_threads(1)
TINY_GPT = dict(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8)


def tiny_gpt():
    torch.manual_seed(0)
    return T.GPT(T.GPTConfig(**TINY_GPT))


def gpt_batches(split, g, b=4):
    x = torch.randint(11, (b, 8), generator=g)
    return x, x.roll(-1, 1)


# --- training -----------------------------------------------------------------------------------

CONFIG_FIELDS = one_bad(max_iters=bad_int(1), batch_size=bad_int(1), learning_rate=BAD_POSITIVE,
                        min_lr=bad_real(0.0), warmup_iters=bad_int(0), warmup_from_zero=BAD_BOOL,
                        lr_decay_iters=bad_int(1, optional=True), decay=st.text(max_size=5),
                        weight_decay=bad_real(0.0), beta1=bad_real(0.0, 1.0), grad_clip=bad_real(0.0),
                        grad_accum=bad_int(1), eval_interval=bad_int(0), eval_iters=bad_int(1),
                        ckpt_interval=bad_int(0), seed=bad_int(0),
                        max_seconds=bad_real(0.0, low_open=True, optional=True),
                        compile=BAD_BOOL, best_mode=st.text(max_size=4), patience=bad_int(0))


@covers(TR, "TrainConfig", "lr_at", "make_optimizer")
@FAST
@given(iters=st.integers(1, 50), warmup=st.integers(0, 10), it=st.integers(0, 60), bad=CONFIG_FIELDS)
def test_train_config_and_schedule(iters, warmup, it, bad):
    cfg = TR.TrainConfig(max_iters=np.int64(iters), warmup_iters=warmup, learning_rate=1e-3, min_lr=1e-4)
    assert 0 <= TR.lr_at(it, cfg) <= 1e-3 + 1e-12
    assert isinstance(TR.make_optimizer(tiny_gpt(), cfg), torch.optim.AdamW)
    name, value = bad
    if not (name in ("decay", "best_mode") and value in ("cosine", "linear", "min", "max")):
        refuses(lambda: TR.TrainConfig(**{name: value}), f"TrainConfig.{name}")
    refuses(lambda: TR.lr_at("3", cfg), "it")
    refuses(lambda: TR.lr_at(1, {"max_iters": 3}), "cfg")
    refuses(lambda: TR.make_optimizer(tiny_gpt(), None), "cfg")


@covers(TR, "train", "default_step", "estimate_loss")
@FEW
@given(steps=st.integers(1, 3), bad=one_bad(get_batch=st.just(None), resume=BAD_BOOL, progress=BAD_BOOL,
                                           step_fn=st.integers(), cfg=st.just({"max_iters": 2})))
def test_train(tmp_path, steps, bad):
    model = tiny_gpt()
    h = TR.train(model, gpt_batches, TR.TrainConfig(max_iters=steps, eval_iters=1, warmup_iters=0), progress=False,
                 ckpt_path=tmp_path / f"run{steps}.safetensors")
    assert len(h["loss"]) == steps and all(math.isfinite(x) for x in h["loss"])
    loss, parts = TR.default_step(model, gpt_batches("train", torch.Generator().manual_seed(0)))
    assert math.isfinite(float(loss)) and parts == {}
    assert set(TR.estimate_loss(model, gpt_batches, 1, 0)) == {"train", "val"}
    name, value = bad
    kwargs = {"model": model, "get_batch": gpt_batches, "cfg": TR.TrainConfig(max_iters=1, eval_iters=1), name: value}
    refuses(lambda: TR.train(**kwargs, ckpt_path=None), name)
    refuses(lambda: TR.train(model, gpt_batches, TR.TrainConfig(max_iters=1), ckpt_path=tmp_path), "ckpt_path")
    refuses(lambda: TR.estimate_loss(model, gpt_batches, 0, 0), "eval_iters")
    refuses(lambda: TR.estimate_loss(model, gpt_batches, 1, 0, splits="val"), "splits")


@covers(TR, "time_steps")
@FEW
@given(n=st.integers(1, 2), warmup=st.integers(0, 1), bad=one_bad(n=bad_int(1), warmup=bad_int(0)))
def test_time_steps(n, warmup, bad):
    model = tiny_gpt()
    cost = TR.time_steps(model, gpt_batches, TR.TrainConfig(), n=n, warmup=warmup)
    assert cost["wall_s"] > 0 and cost["tokens"] > 0
    name, value = bad
    refuses(lambda: TR.time_steps(model, gpt_batches, TR.TrainConfig(), **{name: value}), name)
    refuses(lambda: TR.time_steps(model, gpt_batches, {"max_iters": 2}), "cfg")


@covers(BA, "random_batches", "epoch_batches")
@FAST
@given(n=st.integers(2, 10), b=st.integers(1, 4), bad=bad_int(1))
def test_batch_makers(n, b, bad):
    ids = torch.randint(5, (n, 6))
    mask = torch.ones(n, 6, dtype=torch.long)
    get = BA.random_batches({"train": (ids, mask)}, b, "cpu")
    x, m = get("train", torch.Generator().manual_seed(0))
    assert x.shape == (b, 6) and m.shape == (b, 6)
    refuses(lambda: BA.random_batches({"train": (ids, mask)}, bad, "cpu"), "batch_size")
    refuses(lambda: BA.random_batches([ids, mask], b, "cpu"), "splits")
    walk = BA.epoch_batches(lambda g: list(torch.arange(n).split(b)), lambda idx: (ids[idx],))
    assert walk("train", None)[0].shape[0] == min(b, n)
    refuses(lambda: BA.epoch_batches(None, lambda idx: idx), "batches_for")
    refuses(lambda: BA.epoch_batches(lambda g: [], 3), "fetch")


# --- checkpoint ---------------------------------------------------------------------------------

BAD_PATH = st.one_of(st.integers(), st.none(), st.just(""), st.just([]))


@covers(CK, "save_checkpoint", "load_checkpoint", "checkpoint_info", "check_checkpoint_path", "config_dict",
        "atomic_write")
@FAST
@given(step=st.integers(0, 10**6), bad_step=bad_int(0), bad_path=BAD_PATH)
def test_checkpoints(tmp_path, step, bad_step, bad_path):
    model = tiny_gpt()
    path = CK.save_checkpoint(tmp_path / "c.safetensors", model, step=np.int64(step))
    assert CK.checkpoint_info(str(path))["step"] == step == CK.load_checkpoint(path, tiny_gpt())["step"]
    assert CK.config_dict(model)["n_embd"] == 8 and CK.config_dict(torch.nn.Linear(1, 1)) == {}
    assert CK.check_checkpoint_path(None) is None
    refuses(lambda: CK.save_checkpoint(tmp_path / "d.safetensors", model, step=bad_step), "step")
    refuses(lambda: CK.save_checkpoint(tmp_path, model), "path")
    refuses(lambda: CK.save_checkpoint(tmp_path / "e.safetensors", {"w": 1}), "model")
    for fn in (CK.checkpoint_info, lambda p: CK.load_checkpoint(p, model)):
        refuses(lambda: fn(bad_path), "path")
        refuses(lambda: fn(tmp_path), "path")
        refuses(lambda: fn(tmp_path / "none.safetensors"), "path")
    refuses(lambda: CK.check_checkpoint_path(tmp_path), "ckpt_path")
    refuses(lambda: CK.atomic_write(tmp_path / "f.txt", "not a function"), "write")
    refuses(lambda: CK.atomic_write(bad_path, lambda tmp: None), "path")
    assert CK.atomic_write(tmp_path / "g.txt", lambda tmp: open(tmp, "w").write("x")).read_text() == "x"


# --- generation ---------------------------------------------------------------------------------

SAMPLING = one_bad(temperature=BAD_POSITIVE, top_k=bad_int(1, optional=True),
                   top_p=bad_real(0.0, 1.0, low_open=True, optional=True))


@covers(G, "check_sampling", "sample_next", "top_k_filter", "top_p_filter")
@FAST
@given(rows=st.integers(1, 3), k=st.integers(1, 20), p=st.floats(0.01, 1.0), bad=SAMPLING)
def test_sampling(rows, k, p, bad):
    logits = torch.randn(rows, 11)
    assert G.check_sampling(np.float64(1.0), np.int64(k), np.float32(p))[1] == k
    assert torch.isfinite(G.top_k_filter(logits, k)).sum(-1).min() >= min(k, 11)
    assert torch.isfinite(G.top_p_filter(logits, p)).any(-1).all()
    assert G.sample_next(logits, top_k=k, top_p=p).shape == (rows, 1)
    name, value = bad
    refuses(lambda: G.check_sampling(**{name: value}), name)
    refuses(lambda: G.sample_next(logits, **{name: value}), name)
    refuses(lambda: G.top_k_filter(logits, 0), "k")
    refuses(lambda: G.top_p_filter(logits, 1.5), "p")
    refuses(lambda: G.top_k_filter(logits.long(), k), "logits")
    refuses(lambda: G.sample_next(logits[0].long(), greedy=True), "logits")


@covers(G, "generate", "KVCache", "total_nll", "perplexity")
@FEW
@given(new=st.integers(0, 4), prompt=st.lists(st.integers(0, 10), min_size=1, max_size=5),
       bad=one_bad(max_new_tokens=bad_int(0), greedy=BAD_BOOL, use_cache=BAD_BOOL, stop_token=bad_int(0, optional=True),
                   idx=st.one_of(st.text(max_size=3), st.just([0.5]), st.just(torch.zeros(1, 2)))))
def test_generate_and_perplexity(new, prompt, bad):
    model = tiny_gpt()
    out = G.generate(model, torch.tensor([prompt]), new, greedy=True)
    assert out.shape == (1, len(prompt) + new) and out[0, :len(prompt)].tolist() == prompt
    name, value = bad
    kwargs = {"model": model, "idx": torch.tensor([prompt]), "max_new_tokens": 2, name: value}
    refuses(lambda: G.generate(**kwargs), name)
    refuses(lambda: G.generate(model, torch.zeros(1, 0, dtype=torch.long), 2), "empty")
    cache = G.KVCache(1, 4)
    assert len(cache) == 0
    refuses(lambda: G.KVCache(1, 0), "max_len")
    refuses(lambda: G.KVCache("1", 4), "n_layer")
    ids = torch.randint(11, (20,))
    nll, count = G.total_nll(model, ids)
    assert count == 19 and nll > 0
    assert G.perplexity(model, ids, n_chars=40)["ppl_token"] > 1
    refuses(lambda: G.total_nll(model, ids[:1]), "ids")
    refuses(lambda: G.total_nll(model, ids.float()), "ids")
    refuses(lambda: G.perplexity(model, ids, n_chars=0), "n_chars")
    refuses(lambda: G.perplexity(model, ids, batch_size=0), "batch_size")


# --- transformer --------------------------------------------------------------------------------

SIZES = st.tuples(st.integers(1, 3), st.integers(1, 4))  # heads, head width


@covers(T, "GPTConfig", "GPT", "init_weights")
@covers(E, "EncoderConfig", "Encoder", "Embeddings", "EncoderOutput")
@FAST
@given(sizes=SIZES, t=st.integers(1, 6),
       bad=one_bad(vocab_size=bad_int(1), block_size=bad_int(1), n_layer=bad_int(1), n_head=bad_int(1),
                   n_embd=bad_int(1), dropout=BAD_PROBABILITY, bias=BAD_BOOL))
def test_models(sizes, t, bad):
    heads, width = sizes
    cfg = T.GPTConfig(vocab_size=7, block_size=6, n_layer=1, n_head=heads, n_embd=heads * width)
    logits, loss = T.GPT(cfg)(torch.randint(7, (2, t)), torch.randint(7, (2, t)))
    assert logits.shape == (2, t, 7) and math.isfinite(loss.item())
    name, value = bad
    refuses(lambda: T.GPTConfig(**{name: value}), f"GPTConfig.{name}")
    refuses(lambda: T.GPTConfig(n_head=3, n_embd=8), "n_embd")
    refuses(lambda: T.GPT(cfg)(torch.zeros(2, t)), "idx")
    refuses(lambda: T.GPT({"n_embd": 8}), "config")
    linear = torch.nn.Linear(3, 2)
    T.init_weights(linear)
    assert not linear.bias.any() and linear.weight.std() < 0.2
    refuses(lambda: T.init_weights(cfg), "module")
    ecfg = E.EncoderConfig(vocab_size=9, hidden_size=heads * width, num_hidden_layers=1, num_attention_heads=heads,
                           intermediate_size=4, max_position_embeddings=6)
    enc = E.Encoder(ecfg)
    out = enc.inspect(torch.randint(9, (2, t)))
    assert isinstance(out, E.EncoderOutput) and out.last_hidden_state.shape == (2, t, heads * width)
    assert E.Embeddings(ecfg)(torch.zeros(1, t, dtype=torch.long), torch.zeros(1, t, dtype=torch.long)).shape[-1] \
        == heads * width
    refuses(lambda: E.EncoderConfig(hidden_size=8, num_attention_heads=3), "hidden_size")
    refuses(lambda: E.EncoderConfig(pad_token_id=-1), "pad_token_id")
    refuses(lambda: E.EncoderConfig(layer_norm_eps=0), "layer_norm_eps")
    refuses(lambda: enc(torch.zeros(2, t)), "input_ids")
    refuses(lambda: E.Encoder(cfg), "config")
    refuses(lambda: E.Embeddings({"hidden_size": 4}), "c")


@covers(T, "MLP", "Block")
@covers(E, "mean_pool")
@FAST
@given(sizes=SIZES, t=st.integers(1, 5), bad=one_bad(n_embd=bad_int(1), n_inner=bad_int(1), dropout=BAD_PROBABILITY,
                                                    bias=BAD_BOOL))
def test_blocks_and_pooling(sizes, t, bad):
    heads, width = sizes
    C = heads * width
    x = torch.randn(2, t, C)
    assert T.MLP(C, 2 * C)(x).shape == x.shape and T.Block(C, heads)(x, is_causal=True).shape == x.shape
    name, value = bad
    refuses(lambda: T.MLP(**{"n_embd": C, "n_inner": C, name: value}), name)
    if name != "n_inner" or value is not None:  # Block's n_inner may be None (4 x n_embd)
        refuses(lambda: T.Block(**{"n_embd": C, "n_head": heads, name: value}), name)
    refuses(lambda: T.Block(C, heads, eps=0), "eps")
    mask = torch.ones(2, t, dtype=torch.long)
    assert torch.allclose(E.mean_pool(x, mask), x.mean(1), atol=1e-6)
    refuses(lambda: E.mean_pool(x[0], mask), "hidden")
    refuses(lambda: E.mean_pool(x, mask[:, :-1] if t > 1 else mask[None]), "attention_mask")


# --- llama --------------------------------------------------------------------------------------

TINY_LLAMA = dict(vocab_size=13, block_size=8, n_layer=1, n_head=4, n_kv_head=2, n_embd=16, mlp_hidden=8)


@covers(L, "LlamaConfig", "Llama", "Attention", "DecoderLayer")
@FAST
@given(t=st.integers(1, 8), norm=st.sampled_from(["rms", "layer"]), mlp=st.sampled_from(["swiglu", "gelu"]),
       bad=one_bad(vocab_size=bad_int(1), n_layer=bad_int(1), n_kv_head=bad_int(1), mlp_hidden=bad_int(1),
                   rope_theta=BAD_POSITIVE, norm_eps=BAD_POSITIVE, dropout=BAD_PROBABILITY,
                   tie_word_embeddings=BAD_BOOL, norm=st.text(max_size=4)))
def test_llama(t, norm, mlp, bad):
    cfg = L.LlamaConfig(**TINY_LLAMA, norm=norm, mlp=mlp)
    torch.manual_seed(0)
    model = L.Llama(cfg)
    assert model(torch.randint(13, (2, t))).shape == (2, t, 13)
    name, value = bad
    if not (name == "norm" and value in ("rms", "layer")):
        refuses(lambda: L.LlamaConfig(**{**TINY_LLAMA, name: value}), name)
    refuses(lambda: L.LlamaConfig(**{**TINY_LLAMA, "n_kv_head": 3}), "n_kv_head")
    refuses(lambda: model(torch.zeros(2, t)), "idx")
    refuses(lambda: L.Llama(T.GPTConfig()), "config")
    assert isinstance(L.Attention(cfg, 0), torch.nn.Module) and isinstance(L.DecoderLayer(cfg, 0), torch.nn.Module)
    refuses(lambda: L.Attention(cfg, 1), "layer")
    refuses(lambda: L.DecoderLayer(TINY_LLAMA, 0), "c")


@covers(L, "RMSNorm", "rope_tables", "apply_rope", "SwiGLU", "GELUMLP", "repeat_kv")
@FAST
@given(half=st.integers(1, 4), t=st.integers(1, 6), rep=st.integers(1, 3), bad=bad_int(1), bad_pos=BAD_POSITIVE)
def test_llama_parts(half, t, rep, bad, bad_pos):
    D = 2 * half
    x = torch.randn(1, 2, t, D)
    cos, sin = L.rope_tables(t, D)
    y = L.apply_rope(x, cos, sin)
    assert y.shape == x.shape and torch.allclose(y.norm(dim=-1), x.norm(dim=-1), atol=1e-4)  # a rotation
    refuses(lambda: L.rope_tables(bad, D), "n_positions")
    refuses(lambda: L.rope_tables(t, D + 1), "head_dim")
    refuses(lambda: L.rope_tables(t, D, theta=bad_pos), "theta")
    refuses(lambda: L.apply_rope(x, cos[:-1] if t > 1 else cos[:, :-1], sin), "cos")
    refuses(lambda: L.apply_rope(x.long(), cos, sin), "x")
    assert L.repeat_kv(x, rep).shape == (1, 2 * rep, t, D)
    refuses(lambda: L.repeat_kv(x, bad), "n_rep")
    refuses(lambda: L.repeat_kv(x[0], rep), "x")
    h = torch.randn(3, D)
    assert L.RMSNorm(D)(h).shape == h.shape
    refuses(lambda: L.RMSNorm(bad), "dim")
    refuses(lambda: L.RMSNorm(D, eps=bad_pos), "eps")
    for cls in (L.SwiGLU, L.GELUMLP):
        assert cls(D, 3)(h).shape == h.shape
        refuses(lambda: cls(D, bad), "hidden")
        refuses(lambda: cls(bad, 3), "n_embd")


@covers(L, "load_smollm2")
@FAST
@given(bad=one_bad(block_size=bad_int(1), tiny=BAD_BOOL))
def test_load_smollm2_checks_first(bad):
    name, value = bad  # the valid call (a model download-free load) runs in tests/test_llama.py
    refuses(lambda: L.load_smollm2(**{name: value}), name)


# --- pretraining --------------------------------------------------------------------------------


@covers(P, "CharVocab", "split_tokens", "causal_lm_batch")
@FAST
@given(text=st.text(min_size=2, max_size=40), frac=st.floats(0, 0.9), block=st.integers(1, 5), bad=bad_int(1),
       bad_frac=bad_real(0.0, 1.0))
def test_causal_lm_data(text, frac, block, bad, bad_frac):
    vocab = P.CharVocab(text)
    ids = torch.tensor(vocab.encode(text))
    assert vocab.decode(ids) == text
    refuses(lambda: P.CharVocab(""), "text")
    refuses(lambda: P.CharVocab(["a"]), "text")
    refuses(lambda: vocab.decode([len(vocab)]), "ids")
    tr, va = P.split_tokens(ids, frac)
    assert len(tr) + len(va) == len(ids)
    refuses(lambda: P.split_tokens(ids, bad_frac), "val_fraction")
    if len(ids) > block:
        x, y = P.causal_lm_batch(ids, block, 3, torch.Generator().manual_seed(0))
        assert x.shape == (3, block) and torch.equal(x[:, 1:], y[:, :-1])
    refuses(lambda: P.causal_lm_batch(ids, bad, 3), "block_size")
    refuses(lambda: P.causal_lm_batch(ids, 1, bad), "batch_size")
    refuses(lambda: P.causal_lm_batch(ids.float(), 1, 2), "data")
    refuses(lambda: P.causal_lm_batch(ids, len(ids), 2), "block_size")


@covers(P, "special_token_ids", "mask_tokens", "nsp_pairs", "pack_documents")
@FAST
@given(B=st.integers(1, 3), L_=st.integers(1, 8), p=st.floats(0.05, 0.95), bad_p=bad_real(0.0, 1.0),
       bad=bad_int(1))
def test_mlm_and_nsp_data(B, L_, p, bad_p, bad):
    vocab = {t: i for i, t in enumerate(P.SPECIAL_TOKENS + ("a", "b"))}
    assert P.special_token_ids(vocab)["[MASK]"] == 3
    refuses(lambda: P.special_token_ids({"[PAD]": 0}), "special tokens")
    refuses(lambda: P.special_token_ids(["[PAD]"]), "vocab")
    ids = torch.randint(4, 6, (B, L_))
    inputs, labels = P.mask_tokens(ids, 3, 6, mlm_probability=p, generator=torch.Generator().manual_seed(0))
    assert inputs.shape == labels.shape == ids.shape
    assert ((labels == -100) | (labels == ids)).all()
    refuses(lambda: P.mask_tokens(ids, 3, 6, mlm_probability=bad_p), "mlm_probability")
    refuses(lambda: P.mask_tokens(ids, 9, 6), "mask_token_id")
    refuses(lambda: P.mask_tokens(ids.float(), 3, 6), "input_ids")
    refuses(lambda: P.mask_tokens(ids, 3, 6, special_mask=torch.zeros(B, L_ + 1, dtype=torch.bool)), "special_mask")
    docs = [["s1", "s2", "s3"], ["t1", "t2"]]
    pairs = P.nsp_pairs(docs, 2 * B)
    assert len(pairs) == 2 * B and sum(label for *_, label in pairs) == B
    refuses(lambda: P.nsp_pairs(docs, bad), "n_pairs")
    refuses(lambda: P.nsp_pairs(["s1 s2", "t1 t2"], 2), "documents")
    refuses(lambda: P.nsp_pairs(docs[:1], 2), "documents")
    blocks = P.pack_documents([[5] * 7, [6] * 9], L_ + 1, 1, 2)
    assert blocks.shape[1] == L_ + 1 and (blocks[:, 0] == 1).all()
    refuses(lambda: P.pack_documents([[5] * 7], 1, 1, 2), "block_size")
    refuses(lambda: P.pack_documents("5 6 7", 3, 1, 2), "documents")
    refuses(lambda: P.pack_documents([[5]], 3, -1, 2), "cls_id")


@covers(P, "MiniBertForPreTraining", "transfer_encoder")
@FEW
@given(t=st.integers(2, 6), bad=BAD_BOOL)
def test_mini_bert(t, bad):
    from helpers.finetuning import SequenceClassifier

    cfg = E.EncoderConfig(vocab_size=12, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                          intermediate_size=8, max_position_embeddings=8)
    model = P.MiniBertForPreTraining(cfg)
    ids = torch.randint(4, 12, (2, t))
    labels = torch.full_like(ids, -100)
    labels[:, 0] = ids[:, 0]
    mlm, nsp, _, _ = model(ids, torch.zeros_like(ids), torch.ones_like(ids), labels, torch.tensor([0, 1]))
    assert math.isfinite(mlm.item()) and math.isfinite(nsp.item())
    refuses(lambda: P.MiniBertForPreTraining(cfg, nsp=bad), "nsp")
    clf = SequenceClassifier(E.Encoder(cfg), num_labels=2)
    assert P.transfer_encoder(model.state_dict(), clf) == ["head.bias", "head.weight"]
    refuses(lambda: P.transfer_encoder(model, clf), "state dict")
    refuses(lambda: P.transfer_encoder(model.state_dict(), clf, source=""), "source")


# --- tokenization -------------------------------------------------------------------------------

TEXTS = st.lists(st.text(alphabet="ab c.\n", min_size=1, max_size=20), min_size=1, max_size=4)


@covers(TOK, "BPETokenizer", "words", "bytes_to_unicode", "merge_pair")
@FAST
@given(texts=TEXTS, extra=st.integers(0, 10), bad=bad_int(256), bad_texts=st.one_of(st.just([]), st.just([1]),
                                                                                      st.integers()))
def test_bpe(tmp_path, texts, extra, bad, bad_texts):
    tok = TOK.BPETokenizer.train(texts, 256 + extra, min_frequency=1)
    for text in texts:
        assert tok.decode(tok.encode(text)) == text and "".join(TOK.words(text)) == text
    assert len(TOK.bytes_to_unicode()) == 256
    assert TOK.merge_pair([1, 2, 1, 2, 2], (1, 2), 9) == [9, 9, 2]
    refuses(lambda: TOK.merge_pair([1, 2], [1, 2], 9), "pair")
    refuses(lambda: TOK.BPETokenizer.train(texts, bad), "vocab_size")
    refuses(lambda: TOK.BPETokenizer.train(bad_texts, 300), "texts")
    refuses(lambda: TOK.BPETokenizer.train(texts, 300, min_frequency=0), "min_frequency")
    refuses(lambda: tok.encode(["ab"]), "text")
    refuses(lambda: tok.decode("ab"), "ids")
    refuses(lambda: tok.decode([1.5]), "ids")
    refuses(lambda: TOK.words(None), "text")
    refuses(lambda: TOK.BPETokenizer(["ab"]), "merges")
    tok.save(tmp_path / "bpe.json")
    assert TOK.BPETokenizer.load(tmp_path / "bpe.json").merges == tok.merges
    refuses(lambda: tok.save(tmp_path), "path")
    refuses(lambda: TOK.BPETokenizer.load(tmp_path / "none.json"), "path")


# --- contextual ---------------------------------------------------------------------------------


@covers(C, "lm_targets", "BiLMConfig", "BiLM", "encode_words")
@FAST
@given(B=st.integers(1, 3), t=st.integers(1, 6),
       bad=one_bad(vocab_size=bad_int(2), emb_dim=bad_int(1), hidden=bad_int(1), proj=bad_int(1),
                   dropout=BAD_PROBABILITY))
def test_bilm_parts(B, t, bad):
    from helpers.embeddings import Vocab

    ids = torch.randint(5, (B, t))
    fwd, bwd = C.lm_targets(ids)
    assert torch.equal(fwd[:, :-1], ids[:, 1:]) and (fwd[:, -1] == -100).all()
    refuses(lambda: C.lm_targets(ids[0]), "ids")
    refuses(lambda: C.lm_targets(ids.float()), "ids")
    name, value = bad
    refuses(lambda: C.BiLMConfig(**{"vocab_size": 10, name: value}), f"BiLMConfig.{name}")
    model = C.BiLM(C.BiLMConfig(10, emb_dim=4, hidden=4, proj=4))
    assert math.isfinite(model(torch.randint(10, (B, t + 1))).item())
    refuses(lambda: C.BiLM({"vocab_size": 10}), "cfg")
    vocab = Vocab.from_corpus([["a", "b", "a"]], min_count=1)
    assert C.encode_words(vocab, ("a", "zz")).tolist() == [vocab.index["a"] + 1, 0]
    refuses(lambda: C.encode_words(vocab, "a b"), "words")
    refuses(lambda: C.encode_words({"a": 0}, ["a"]), "vocab")


@covers(C, "train_bilm", "embed_sentence", "word_in_context", "BiLMResult")
@FEW
@given(bad=one_bad(seq_len=bad_int(2), batch_size=bad_int(1), max_vocab=bad_int(1), min_count=bad_int(1),
                   lr=BAD_POSITIVE, max_steps=bad_int(1, optional=True), progress=BAD_BOOL),
       bad_words=BAD_STR_LIST, bad_layer=st.text(max_size=5))
def test_train_and_embed_bilm(bad, bad_words, bad_layer):
    corpus = [["the", "river", "bank", "was", "wet"], ["the", "bank", "took", "money"]] * 20
    result = C.train_bilm(corpus, min_count=1, seq_len=4, batch_size=8, max_steps=2, emb_dim=4, hidden=4,
                          device="cpu", progress=False)
    assert isinstance(result, C.BiLMResult) and len(result.losses) == 2
    v = C.embed_sentence(result.model, result.vocab, ["the", "bank"])
    assert v.shape == (2, 8)
    assert torch.equal(C.word_in_context(result.model, result.vocab, "the bank", "bank"), v[1])
    name, value = bad
    refuses(lambda: C.train_bilm(corpus, **{name: value}), name)
    refuses(lambda: C.train_bilm("the river bank"), "corpus")
    refuses(lambda: C.embed_sentence(result.model, result.vocab, bad_words), "words")
    if bad_layer not in ("static", "context"):
        refuses(lambda: C.embed_sentence(result.model, result.vocab, ["bank"], layer=bad_layer), "layer")
    refuses(lambda: C.word_in_context(result.model, result.vocab, ["the", "bank"], "bank"), "sentence")
    refuses(lambda: C.word_in_context(result.model, result.vocab, "the bank", "river"), "river")


def test_zz_bad_inputs_all_got_a_clear_error():
    """Runs last in this file: every bad input tried above got the course's own error."""
    print(f"\nbad inputs tried: {TALLY['tried']}, clear errors: {TALLY['clear']}")
    assert TALLY["tried"] == TALLY["clear"] > 0
