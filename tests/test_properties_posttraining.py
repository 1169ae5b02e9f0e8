"""Property-based tests of every public function of helpers.instruct, chat_data, preference and
posttraining: valid arguments drawn by hypothesis work, and bad ones are refused with the course's own
error naming the argument (see tests/_properties.py). A character-level ChatML tokenizer and a one-layer
Llama keep them fast; the real SmolLM2 tokenizer and trl are in tests/test_instruct.py."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from _properties import FAST, FEW, TALLY, public_functions, refuses
from helpers import chat_data as CD
from helpers import instruct as I
from helpers import posttraining as PT
from helpers import preference as P
from helpers.validation import ArgumentTypeError, ArgumentValueError, ShapeError

from _properties import COVERED, covers  # noqa: E402  (the shared registry the coverage test reads)


class CharChat:
    """A tokenizer with SmolLM2's ChatML template, one id per character (ids 3..258), no downloads."""
    chat_template = "chatml"
    pad_token_id, eos_token_id, unk_token_id = 0, 1, None

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
        text = "".join(f"<{m['role']}>{m['content']}|\n" for m in messages)
        return text + ("<assistant>" if add_generation_prompt else "")

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [3 + min(ord(c), 255) for c in text]}

    def convert_tokens_to_ids(self, token):
        return 3 + ord("|")

    def decode(self, ids, skip_special_tokens=False):
        return "".join(chr(i - 3) for i in ids if i >= 3)


TOK = CharChat()
TEXT = st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=12)


def conv(user, reply, turns=1, system=None):
    out = [{"role": "system", "content": system}] if system else []
    for k in range(turns):
        out += [{"role": "user", "content": user * (k + 1)}, {"role": "assistant", "content": reply * (k + 1)}]
    return out


@pytest.fixture(scope="module")
def tiny():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=260, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                                        tie_word_embeddings=True)).eval()


# --- instruct ------------------------------------------------------------------------------------


@covers(I, "check_conversation", "render_chat", "assistant_only_labels", "encode_chats", "trim_padding")
@FAST
@given(user=TEXT, reply=TEXT, turns=st.integers(1, 3), system=st.one_of(st.none(), TEXT))
def test_labels_are_the_replies_and_nothing_else(user, reply, turns, system):
    c = conv(user, reply, turns, system)
    assert I.check_conversation(c) == c
    ids, labels = I.assistant_only_labels(TOK, c)
    assert TOK.decode(ids) == I.render_chat(TOK, c)
    assert TOK.decode([x for x in labels if x != I.IGNORE]) == "".join(m["content"] + "|\n" for m in c
                                                                       if m["role"] == "assistant")
    other = conv(user + "x", reply, turns, system)  # another user text: the same targets
    assert [x for x in I.assistant_only_labels(TOK, other)[1] if x != I.IGNORE] == [x for x in labels if x != I.IGNORE]
    ids_t, mask, lab = I.encode_chats(TOK, [c, other])
    assert ids_t.shape == mask.shape == lab.shape and int(mask[0].sum()) == len(ids)
    refuses(lambda: I.check_conversation(c[::-1]), "out of order", "messages")
    refuses(lambda: I.check_conversation(c[:1] if not system else c[:2]), "no assistant turn")
    refuses(lambda: I.assistant_only_labels(TOK, c, max_length=len(ids) - 1), "max_length")
    refuses(lambda: I.render_chat(object(), c), "tokenizer")
    refuses(lambda: I.encode_chats(TOK, []), "conversations")
    wide = I.encode_chats(TOK, [c, other], max_length=len(ids) + 40, pad_id=0)
    wide = tuple(torch.cat([t, torch.full((2, 5), v)], 1) for t, v in zip(wide, (0, 0, I.IGNORE)))  # 5 more pad columns
    trimmed = I.trim_padding(*wide)
    assert trimmed[0].shape[1] == int(wide[1].sum(1).max()) and (trimmed[2] != I.IGNORE).sum() == (wide[2] != I.IGNORE).sum()
    refuses(lambda: I.trim_padding(wide[0], wide[1][:, :3], wide[2]), "attention_mask")


@covers(I, "sft_loss", "sft_step")
@FAST
@given(B=st.integers(1, 3), T=st.integers(2, 8), V=st.integers(2, 9), seed=st.integers(0, 99))
def test_sft_loss_is_the_mean_over_labelled_shifted_tokens(B, T, V, seed):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, V, generator=g)
    labels = torch.randint(V, (B, T), generator=g)
    labels[:, :T // 2] = I.IGNORE
    labels[0, -1] = 0  # at least one target
    lp = torch.log_softmax(logits[:, :-1], -1)
    keep = labels[:, 1:] != I.IGNORE
    want = -(lp.gather(2, labels[:, 1:].clamp(min=0)[..., None])[..., 0] * keep).sum() / keep.sum()
    assert torch.allclose(I.sft_loss(logits, labels), want, atol=1e-5)
    refuses(lambda: I.sft_loss(logits, labels[:, :-1]), "logits", error=ShapeError)
    refuses(lambda: I.sft_loss(logits, torch.full_like(labels, I.IGNORE)), "labels")
    refuses(lambda: I.sft_loss(logits[0], labels), "logits")


@covers(I, "labelled_logits")
@FEW
@given(seed=st.integers(0, 99), lengths=st.lists(st.integers(3, 9), min_size=1, max_size=3))
def test_labelled_logits_are_the_full_logits_where_scored(tiny, seed, lengths):
    """The output layer on the scored positions only gives the numbers of the full forward pass there,
    for a transformers model, a peft one (adapters off zero, and switched off) and the course's Llama;
    sft_step's loss and gradients are sft_loss's on the full logits."""
    from helpers.llama import Llama

    g = torch.Generator().manual_seed(seed)
    T = max(lengths)
    ids = torch.randint(3, 260, (len(lengths), T), generator=g)
    mask = (torch.arange(T) < torch.tensor(lengths)[:, None]).long()  # right padding
    labels = torch.where(torch.rand(len(lengths), T, generator=g) < 0.5, ids, torch.full_like(ids, I.IGNORE))
    labels[mask == 0] = I.IGNORE
    labels[:, 2] = ids[:, 2]  # at least one scored position per row
    peft_model = I.add_causal_lora(copy.deepcopy(tiny), r=2).eval()  # eval: no LoRA dropout, comparable passes
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5, generator=g)  # adapters that change the logits
    course = Llama.from_hf(tiny.eval(), block_size=16)
    for model in (tiny, peft_model, course):
        full = I._logits(model, ids, mask)[:, :-1]  # (B, T-1, vocab)
        logits, targets, rows = I.labelled_logits(model, ids, mask, labels)
        scored = labels[:, 1:] != I.IGNORE
        assert torch.allclose(logits, full[scored], atol=1e-5)
        assert torch.equal(targets, labels[:, 1:][scored]) and torch.equal(rows, scored.nonzero()[:, 0])
    with P.reference(peft_model):
        assert torch.allclose(I.labelled_logits(peft_model, ids, mask, labels)[0],
                              I._logits(tiny, ids, mask)[:, :-1][labels[:, 1:] != I.IGNORE], atol=1e-5)
    loss, parts = I.sft_step(peft_model, (ids, mask, labels))
    grads = torch.autograd.grad(loss, [p for p in peft_model.parameters() if p.requires_grad])
    want = I.sft_loss(I._logits(peft_model, ids, mask), labels)
    want_grads = torch.autograd.grad(want, [p for p in peft_model.parameters() if p.requires_grad])
    assert torch.allclose(loss, want, atol=1e-5) and parts["tokens"] == int(scored.sum())
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(grads, want_grads))


@covers(I, "add_causal_lora", "prompt_ids", "end_of_turn_id", "chat_reply")
@FEW
@given(r=st.integers(1, 4), user=TEXT)
def test_lora_prompt_and_reply(tiny, r, user):
    model = I.add_causal_lora(copy.deepcopy(tiny), r=r)
    assert 0 < sum(p.numel() for p in model.parameters() if p.requires_grad)
    loss, parts = I.sft_step(model, I.encode_chats(TOK, [conv(user, "ok")]))
    assert loss.item() > 0 and parts["tokens"] == 4  # "ok|\n"
    ids = I.prompt_ids(TOK, conv(user, "ok"))
    assert TOK.decode(ids[0].tolist()).endswith("<assistant>") and I.end_of_turn_id(TOK) == 3 + ord("|")
    assert isinstance(I.chat_reply(tiny, TOK, conv(user, "ok")[:1], max_new_tokens=3), str)
    refuses(lambda: I.add_causal_lora(tiny, r=0), "r")
    refuses(lambda: I.chat_reply(tiny, TOK, conv(user, "ok")[:1], max_new_tokens=0), "max_new_tokens")


# --- chat_data -----------------------------------------------------------------------------------


@covers(CD, "Example", "entity_answer", "score", "task_examples", "instruction_data")
@FAST
@given(names=st.lists(TEXT, min_size=0, max_size=3), task=st.sampled_from(CD.TASKS))
def test_answers_and_scores(names, task):
    words = [w for n in names for w in (n, "and")] + ["end"]
    tags = [t for _ in names for t in ("B-PERSON", "O")] + ["O"]
    answer = CD.entity_answer(words, tags)
    assert answer.startswith("People: ") and all(n in answer for n in names)
    assert CD.score("entities", [answer], [answer]) == 100.0
    ref = {"sentiment": "positive"}.get(task, "the quick brown fox jumps over the lazy dog")
    assert CD.score(task, [ref], [ref]) == pytest.approx(100.0)
    e = CD.Example(task, "doc:1", "do it", "done")
    assert e.messages()[-1] == {"role": "assistant", "content": "done"} and len(e.messages(False)) == 1
    refuses(lambda: CD.score("nope", [ref], [ref]), "task")
    refuses(lambda: CD.score(task, [ref], []), "predictions")
    refuses(lambda: CD.task_examples("nope"), "task")
    refuses(lambda: CD.task_examples(task, n=0), "n")
    refuses(lambda: CD.instruction_data((task,), held_out=(task,)), "held_out")


# --- preference ----------------------------------------------------------------------------------


@covers(P, "Pair", "preference_pairs", "encode_pairs", "chosen_only_batch")
@FAST
@given(a=st.lists(TEXT, min_size=1, max_size=4), scores=st.lists(st.floats(0, 1), min_size=8, max_size=8))
def test_pairs_keep_the_better_reply(a, scores):
    b = [x[::-1] for x in a]
    sa, sb = scores[:len(a)], scores[4:4 + len(a)]
    pairs, dropped = P.preference_pairs(["write"] * len(a), a, b, sa, sb)
    assert len(pairs) + dropped["identical"] + dropped["tied"] == len(a)
    for p in pairs:
        assert p.margin > 0 and isinstance(p, P.Pair)
    if pairs:
        ids, mask, labels = P.encode_pairs(TOK, pairs)
        assert ids.shape[:2] == (len(pairs), 2) and P.chosen_only_batch((ids, mask, labels))[0].shape == ids[:, 0].shape
    refuses(lambda: P.preference_pairs(["w"] * len(a), a, b, sa, sb[:0]), "scores_b", error=ShapeError)
    refuses(lambda: P.encode_pairs(TOK, []), "pairs")


@covers(P, "best_and_worst_pairs")
@FAST
@given(scores=st.lists(st.lists(st.floats(0, 1), min_size=2, max_size=4), min_size=1, max_size=4))
def test_best_and_worst_pairs_take_the_extremes(scores):
    replies = [[f"reply {i}.{j}" for j in range(len(sc))] for i, sc in enumerate(scores)]
    pairs, dropped = P.best_and_worst_pairs(["write"] * len(scores), replies, scores)
    assert len(pairs) + dropped["tied"] == len(scores) and dropped["identical"] == 0
    for p in pairs:
        i = int(p.chosen.split()[1].split(".")[0])
        assert p.margin == pytest.approx(max(scores[i]) - min(scores[i])) and p.margin > 0
    refuses(lambda: P.best_and_worst_pairs(["w"], [["one"]], [[0.5]]), "replies", error=ShapeError)


@covers(P, "dpo_loss", "sequence_logps", "pair_logps", "reference", "add_reference_logps", "dpo_step",
        "kl_from_reference")
@FEW
@given(beta=st.floats(0.01, 5), seed=st.integers(0, 9))
def test_dpo_pieces(tiny, beta, seed):
    g = torch.Generator().manual_seed(seed)
    pc, pr, rc, rr = (torch.randn(3, generator=g) for _ in range(4))
    loss, ch, rj = P.dpo_loss(pc, pr, rc, rr, beta)
    assert torch.allclose(loss, -torch.nn.functional.logsigmoid(ch - rj).mean())
    refuses(lambda: P.dpo_loss(pc, pr, rc, rr, beta=-1), "beta")
    refuses(lambda: P.dpo_loss(pc, pr[:2], rc, rr, beta), "policy_rejected", error=ShapeError)
    model = I.add_causal_lora(copy.deepcopy(tiny), r=2)
    pairs, _ = P.preference_pairs(["write"], ["good"], ["bad"], [1.0], [0.0])
    batch = P.add_reference_logps(model, P.encode_pairs(TOK, pairs))
    with P.reference(model):
        assert torch.allclose(batch[3], P.pair_logps(model, batch), atol=1e-5)
    assert P.sequence_logps(model, *(t[:, 0] for t in batch[:3])).shape == (1,)
    loss, parts = P.dpo_step(beta)(model, batch)
    assert abs(loss.item() - 0.6931) < 1e-3 and set(parts) == {"reward_margin", "reward_accuracy"}
    assert abs(P.kl_from_reference(model, *P.chosen_only_batch(batch))) < 1e-5  # adapters at zero: no KL
    refuses(lambda: P.dpo_step(beta=0), "beta")


# --- posttraining --------------------------------------------------------------------------------


@covers(PT, "review_prompts", "merged_llama", "sample_replies", "task_scores", "base_fingerprint",
        "save_adapter", "load_adapter", "cache_path")
@FEW
@given(n=st.integers(1, 5), seed=st.integers(0, 9))
def test_prompts_generation_and_adapters(tiny, tmp_path_factory, n, seed):
    prompts = PT.review_prompts(n, seed)
    assert len(prompts) == n and all(any(f in p for f in PT.FILMS) for p in prompts)
    refuses(lambda: PT.review_prompts(0), "n")
    model = I.add_causal_lora(copy.deepcopy(tiny), r=2)
    fast = PT.merged_llama(model, block_size=256)
    replies = PT.sample_replies(fast, TOK, prompts[:2], n=2, max_new_tokens=3, seed=seed)
    assert len(replies) == min(2, n) and all(len(r) == 2 for r in replies)
    refuses(lambda: PT.sample_replies(fast, TOK, prompts, n=0), "n")
    refuses(lambda: PT.sample_replies(fast, TOK, prompts, batch_size=0), "batch_size")
    one_by_one = PT.sample_replies(fast, TOK, prompts[:3], n=1, max_new_tokens=3, greedy=True, batch_size=1)
    assert PT.sample_replies(fast, TOK, prompts[:3], n=1, max_new_tokens=3, greedy=True, batch_size=3) == one_by_one
    scores = PT.task_scores(fast, TOK, [CD.Example("sentiment", "d", "say", "positive")], {"sentiment": 2})
    assert 0 <= scores["sentiment"] <= 100
    path = tmp_path_factory.mktemp("adapter") / "a.safetensors"
    PT.save_adapter(model, path, {"note": n})
    assert PT.load_adapter(I.add_causal_lora(copy.deepcopy(tiny), r=2), path) == {"note": n}
    other = copy.deepcopy(tiny)
    with torch.no_grad():
        next(other.parameters()).add_(1.0)
    refuses(lambda: PT.load_adapter(I.add_causal_lora(other, r=2), path), "another base model")
    refuses(lambda: PT.save_adapter(tiny, path), "LoRA")
    assert PT.cache_path("x", model, a=1) != PT.cache_path("x", model, a=2)
    assert PT.base_fingerprint(model) == PT.base_fingerprint(tiny)


EXEMPT = {"helpers.posttraining": {"sentiment_judge": "fine-tunes MiniLM (minutes): bench and notebook 12 run it",
                                   "judge_rewards": "needs the judge; notebook 12 and the bench use it"}}


@pytest.mark.parametrize("module", [I, CD, P, PT], ids=lambda m: m.__name__)
def test_every_public_function_has_a_property_test(module):
    public = public_functions(module, EXEMPT.get(module.__name__, {}))
    missing = public - COVERED.get(module.__name__, set())
    assert not missing, f"public names of {module.__name__} without a property test: {sorted(missing)}"
    assert COVERED[module.__name__] <= public, "a covered name is gone"


def test_zz_bad_inputs_all_got_a_clear_error():
    print(f"\nbad inputs tried: {TALLY['tried']}, clear errors: {TALLY['clear']}")
    assert TALLY["tried"] == TALLY["clear"]
