"""helpers.transformer and helpers.tokenization: the course's encoder runs MiniLM exactly like
transformers' BertModel, the GPT is a causal language model, and the BPE round-trips."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch

from helpers import data
from helpers.encoder import Encoder, EncoderConfig, mean_pool
from helpers.generation import generate
from helpers.tokenization import BPETokenizer, words
from helpers.transformer import GPT, Block, GPTConfig

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SENTENCES = [
    "The bank raised interest rates again this morning.",
    "We sat on the river bank and watched the boats.",
    "Attention lets every token look at every other token in the sentence, near or far.",
    "Short one.",
]

needs_minilm = pytest.mark.skipif(not data.is_installed("minilm"), reason="MiniLM is not installed")


@pytest.fixture(scope="module")
def minilm():
    from transformers import AutoTokenizer, BertModel

    path = data.minilm_dir()
    tok = AutoTokenizer.from_pretrained(path)
    ref = BertModel.from_pretrained(path, attn_implementation="eager").eval()
    return tok, ref, Encoder.from_pretrained(path)


@needs_minilm
def test_encoder_matches_bert_model(minilm):
    from transformers import BertModel

    tok, ref, ours = minilm
    batch = tok(SENTENCES, padding=True, return_tensors="pt")  # a padded batch
    assert (batch["attention_mask"] == 0).any()
    with torch.no_grad():
        want = ref(**batch, output_hidden_states=True, output_attentions=True)
        got = ours.inspect(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        last = ours(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    assert len(got.hidden_states) == len(want.hidden_states) == 7
    real = batch["attention_mask"].bool()  # (batch, tokens)
    for g, w in zip(got.hidden_states, want.hidden_states):
        assert (g - w)[real].abs().max().item() < 1e-4  # real tokens: the target
        assert (g - w).abs().max().item() < 1e-3  # [PAD] positions too, with more rounding noise
    assert (last - want.last_hidden_state)[real].abs().max().item() < 1e-4
    keys = real[:, None, None, :]  # the viewer's weights match too (on real keys; pads get 0 in both)
    for g, w in zip(got.attentions, want.attentions):
        assert ((g - w) * keys).abs().max().item() < 1e-5
        assert (g * ~keys).abs().max().item() == 0
    sdpa = BertModel.from_pretrained(data.minilm_dir(), attn_implementation="sdpa").eval()
    with torch.no_grad():  # transformers' default, fused path gives the same too
        assert (sdpa(**batch).last_hidden_state - last)[real].abs().max().item() < 1e-4
    emb_ours = mean_pool(last, batch["attention_mask"])
    emb_ref = mean_pool(want.last_hidden_state, batch["attention_mask"])
    assert (emb_ours - emb_ref).abs().max().item() < 1e-5


@needs_minilm
def test_sentence_pairs_and_single_sentences(minilm):
    tok, ref, ours = minilm
    pair = tok("Where is the cat?", "It is on the mat.", return_tensors="pt")
    assert pair["token_type_ids"].sum() > 0
    with torch.no_grad():
        assert (ours(**pair) - ref(**pair).last_hidden_state).abs().max() < 1e-4
        # padding must not change the real tokens' states: alone == inside a padded batch
        alone = tok(SENTENCES[3], return_tensors="pt")
        batch = tok(SENTENCES, padding=True, return_tensors="pt")
        n = alone["input_ids"].shape[1]
        assert (ours(**alone)[0] - ours(**batch)[3, :n]).abs().max() < 1e-5


@needs_minilm
def test_sentence_embeddings_mean_something(minilm):
    tok, _, ours = minilm
    sents = ["A man is playing a guitar.", "Someone plays an instrument.", "The stock market fell sharply."]
    b = tok(sents, padding=True, return_tensors="pt")
    with torch.no_grad():
        e = torch.nn.functional.normalize(mean_pool(ours(**b), b["attention_mask"]), dim=-1)
    sim = e @ e.T
    assert sim[0, 1] > sim[0, 2] + 0.2


@needs_minilm
def test_checkpoint_that_does_not_fit_the_config():
    c = EncoderConfig.from_hf({"hidden_size": 384, "num_attention_heads": 12, "intermediate_size": 1024})
    with pytest.raises(ValueError) as err:
        Encoder.from_pretrained(data.minilm_dir(), config=c)
    msg = str(err.value)
    assert "encoder.layer.0.intermediate.dense.weight" in msg and "(1536, 384)" in msg and "(1024, 384)" in msg
    with pytest.raises(KeyError, match="lacks"):
        Encoder.from_pretrained(data.minilm_dir(), config=EncoderConfig(num_hidden_layers=8))
    with pytest.raises(ValueError, match="divisible"):
        Encoder(EncoderConfig(hidden_size=384, num_attention_heads=5))
    with pytest.raises(FileNotFoundError):
        Encoder.from_pretrained("/nonexistent/checkpoint")


def test_encoder_exports_to_hugging_face(tmp_path):
    """A from-scratch encoder goes to transformers' BertModel and back with the same outputs."""
    from safetensors.torch import save_file
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    cfg = EncoderConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=16)
    ours = Encoder(cfg).eval()
    hf = BertModel(BertConfig(**cfg.to_hf()), add_pooling_layer=False).eval()
    missing, unexpected = hf.load_state_dict(ours.hf_state_dict(), strict=False)
    assert not [m for m in missing if "position_ids" not in m] and not unexpected
    ids = torch.randint(1, 100, (2, 10))
    mask = torch.ones(2, 10, dtype=torch.long)
    mask[1, 6:] = 0
    with torch.no_grad():
        assert (ours(ids, mask) - hf(input_ids=ids, attention_mask=mask).last_hidden_state)[mask.bool()].abs().max() < 1e-5
    (tmp_path / "config.json").write_text(json.dumps(cfg.to_hf()))
    save_file(ours.hf_state_dict(), str(tmp_path / "model.safetensors"))
    again = Encoder.from_pretrained(tmp_path)
    with torch.no_grad():
        assert torch.equal(again(ids, mask), ours(ids, mask))


def test_float_mask_with_causal():
    from helpers.attention import attention

    q = k = v = torch.randn(2, 3, 6, 8)
    bias = torch.randn(2, 1, 1, 6)  # a float (additive) mask that broadcasts over heads and queries
    a = attention(q, k, v, mask=bias, is_causal=True, impl="manual")
    b = attention(q, k, v, mask=bias, is_causal=True, impl="fused")
    assert (a - b).abs().max() < 1e-5


def test_encoder_bad_input():
    enc = Encoder(EncoderConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=32, max_position_embeddings=8))
    with pytest.raises(ValueError, match="max_position_embeddings"):
        enc(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="attention_mask"):
        enc(torch.zeros(2, 5, dtype=torch.long), attention_mask=torch.ones(2, 4))


# ---- GPT -------------------------------------------------------------------------------------


def test_gpt_shapes_loss_and_tying():
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=65, block_size=16, n_layer=2, n_head=4, n_embd=32)
    model = GPT(cfg)
    idx = torch.randint(0, 65, (3, 16))
    logits = model(idx)
    assert logits.shape == (3, 16, 65)
    logits2, loss = model(idx, torch.randint(0, 65, (3, 16)))
    assert torch.equal(logits, logits2)
    assert abs(loss.item() - math.log(65)) < 0.1  # a fresh model guesses uniformly
    assert model.transformer.wte.weight is model.lm_head.weight
    assert model.num_params(non_embedding=False) == sum(p.numel() for p in model.parameters())


def test_gpt_is_causal():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=20, block_size=10, n_layer=2, n_head=2, n_embd=16)).eval()
    a = torch.randint(0, 20, (1, 10))
    b = a.clone()
    b[0, 6:] = (b[0, 6:] + 1) % 20  # change the future only
    assert torch.allclose(model(a)[:, :6], model(b)[:, :6], atol=1e-6)
    assert not torch.allclose(model(a)[:, 6:], model(b)[:, 6:], atol=1e-4)


def test_gpt_learns_and_generates():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=12, block_size=12, n_layer=1, n_head=2, n_embd=32))
    seq = torch.arange(12).repeat(2, 1)  # 0 1 2 ... 11: each token predicts the next
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(40):
        _, loss = model(seq[:, :-1], seq[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1
    out = generate(model, torch.tensor([[0, 1, 2]]), max_new_tokens=5, greedy=True)
    assert out[0].tolist() == [0, 1, 2, 3, 4, 5, 6, 7]


def test_gpt_bad_input():
    model = GPT(GPTConfig(vocab_size=10, block_size=4, n_layer=1, n_head=2, n_embd=8))
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="divisible"):
        GPT(GPTConfig(n_embd=130, n_head=4))


def test_block_pre_and_post_norm():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 16)
    pre = Block(16, 4, norm_first=True).eval()
    want = x + pre.attn(pre.ln_1(x))
    want = want + pre.mlp(pre.ln_2(want))
    assert torch.allclose(pre(x), want, atol=1e-6)
    post = Block(16, 4, norm_first=False).eval()
    h = post.ln_1(x + post.attn(x))
    assert torch.allclose(post(x), post.ln_2(h + post.mlp(h)), atol=1e-6)


# ---- BPE -------------------------------------------------------------------------------------


def test_bpe_round_trip_and_merges():
    text = "low lower lowest newer wider low low lower newest 😀 café"
    tok = BPETokenizer.train([text] * 3, vocab_size=270)
    assert len(tok) <= 270 and len(tok.merges) > 0
    for s in [text, "unseen wörds, 漢字 and\nnewlines  too"]:
        assert tok.decode(tok.encode(s)) == s
    assert tok.vocab[256] == b" l" or tok.vocab[256] in (b"lo", b"ow", b" lo")
    assert len(tok.encode(" lowest")) < len(" lowest".encode())  # merges shorten what they saw
    # the first merge is the most frequent pair
    counts = {}
    for w in words(text * 3):
        b = w.encode()
        for p in zip(b, b[1:]):
            counts[p] = counts.get(p, 0) + 1
    assert max(counts.values()) == counts[next(iter(tok.merges))]


def _naive_bpe_merges(texts, vocab_size):
    """The textbook loop: recount every pair, merge the most frequent, repeat (slow but obvious)."""
    from collections import Counter

    counts = Counter(w for t in texts for w in words(t))
    seqs = {w: list(w.encode()) for w in counts}
    from helpers.tokenization import bytes_to_unicode

    rank = {b: r for r, b in enumerate(sorted(range(256), key=bytes_to_unicode().get))}
    merges = []
    for new in range(256, vocab_size):
        pairs = Counter()
        for w, s in seqs.items():
            for p in zip(s, s[1:]):
                pairs[p] += counts[w]
        if not pairs:
            break
        # ties: the pair that comes first in GPT-2's byte order (bytes by their printable character)
        best, c = max(pairs.items(), key=lambda kv: (kv[1], tuple(-rank.get(t, t) for t in kv[0])))
        if c < 2:
            break
        merges.append(best)
        for w, s in seqs.items():
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == best:
                    out.append(new)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[w] = out
    return merges


def test_bpe_matches_the_textbook_loop():
    texts = data.documents("lee")[:20]
    assert list(BPETokenizer.train(texts, vocab_size=500).merges) == _naive_bpe_merges(texts, 500)


def test_bpe_encoding_applies_merges_in_training_order():
    texts = data.documents("lee")[:30]
    tok = BPETokenizer.train(texts, vocab_size=600)
    for text in data.documents("lee")[30:33]:  # unseen text
        want = []
        for w in words(text):
            ids = list(w.encode())
            for (a, b), new in tok.merges.items():  # the definition: every merge, in order
                out, i = [], 0
                while i < len(ids):
                    if i + 1 < len(ids) and ids[i] == a and ids[i + 1] == b:
                        out.append(new)
                        i += 2
                    else:
                        out.append(ids[i])
                        i += 1
                ids = out
            want += ids
        assert tok.encode(text) == want


def test_bpe_save_load_and_errors(tmp_path):
    tok = BPETokenizer.train(["the cat sat on the mat"] * 5, vocab_size=280)
    tok.save(tmp_path / "bpe.json")
    again = BPETokenizer.load(tmp_path / "bpe.json")
    assert again.encode("the mat sat") == tok.encode("the mat sat")
    with pytest.raises(ValueError, match="256"):
        BPETokenizer.train(["x"], vocab_size=100)
    with pytest.raises(ValueError, match="not in this vocabulary"):
        tok.decode([10_000])


def test_gpt_from_pretrained_gpt2_and_nanogpt():
    """GPT-2's Conv1D weights (transposed) and nanoGPT checkpoints load; the logits match GPT2LMHeadModel."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=16, n_embd=32, n_layer=2, n_head=4,
                                    activation_function="gelu", bos_token_id=0, eos_token_id=0)).eval()
    ours = GPT.from_pretrained(hf)
    ids = torch.randint(0, 50, (2, 16))
    with torch.no_grad():
        assert (hf(ids).logits - ours(ids)).abs().max().item() < 1e-5
    cfg = ours.config
    again = GPT.from_pretrained(hf.transformer.state_dict(), cfg)  # GPT2Model names, no lm_head
    nano = GPT.from_pretrained({"model": ours.state_dict(), "model_args": {**cfg.__dict__, "dropout": 0.0}})
    with torch.no_grad():
        assert torch.equal(again(ids), ours(ids)) and torch.equal(nano(ids), ours(ids))
    with pytest.raises(ValueError, match="config"):
        GPT.from_pretrained(hf.state_dict())
    with pytest.raises(ValueError, match=r"wte.weight.*\(50, 32\).*\(60, 32\)"):
        GPT.from_pretrained(hf.state_dict(), GPTConfig(vocab_size=60, block_size=16, n_embd=32, n_layer=2, n_head=4))
    small = GPTConfig(vocab_size=50, block_size=16, n_embd=32, n_layer=3, n_head=4)
    with pytest.raises(KeyError, match="transformer.h.2"):
        GPT.from_pretrained(hf.state_dict(), small)
