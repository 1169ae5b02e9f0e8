"""Instruction tuning (supervised fine-tuning, SFT): conversations in the model's own chat template,
labels on the assistant's tokens only, and the step the course's one training loop runs.

    ids, labels = assistant_only_labels(tok, [{"role": "user", "content": "Hi"},
                                              {"role": "assistant", "content": "Hello."}])
    batch = encode_chats(tok, conversations, max_length=256)   # (input_ids, attention_mask, labels)
    model = add_causal_lora(hf_model, r=8)                      # peft LoRA, base weights frozen
    history = train(model, random_batches(splits, 8, device), cfg, step_fn=sft_step)
    reply = chat_reply(course_llama, tok, messages, max_new_tokens=40)

A conversation is a list of ``{"role": ..., "content": ...}`` turns: an optional system turn first,
then user and assistant turns alternating, starting with the user, with at least one assistant
turn. The tokenizer's ``apply_chat_template`` renders it (SmolLM2: ChatML, ``<|im_start|>role\\n
... <|im_end|>\\n``, with a default system turn when there is none). The loss is taken on what the
assistant says and the ``<|im_end|>\\n`` that closes its turn (so the model learns to stop), and on
nothing else: every system, user and template token (``<|im_start|>assistant\\n`` included) gets the
label -100, which cross-entropy ignores. This is what trl's ``SFTTrainer`` masks for a
prompt-completion data set with ``completion_only_loss`` (tests/test_instruct.py checks it).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from . import validation as validate
from .generation import generate

IGNORE = -100  # the label cross-entropy skips (PyTorch's and transformers' default ignore_index)
ROLES = ("system", "user", "assistant")


def check_conversation(messages, name: str = "messages") -> list[dict]:
    """The conversation as a list of {"role", "content"} dicts, or a clear error: not a list of turns,
    an unknown role, roles out of order (system first only; user and assistant alternate, user first),
    an empty conversation, or no assistant turn (nothing to learn from)."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise validate.ArgumentTypeError(f"{name} must be a list of {{'role': ..., 'content': ...}} turns, "
                                         f"got {type(messages).__name__} {validate._show(messages)}.")
    turns = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise validate.ArgumentTypeError(f"{name}[{i}] must be a dict with a 'role' and a 'content' string, "
                                             f"got {validate._show(m)}.")
        if m["role"] not in ROLES:
            raise validate.ArgumentValueError(f"{name}[{i}] has role {m['role']!r}; allowed: {', '.join(ROLES)}.")
        turns.append({"role": m["role"], "content": m["content"]})
    body = turns[1:] if turns and turns[0]["role"] == "system" else turns
    for i, m in enumerate(body):
        want = "user" if i % 2 == 0 else "assistant"
        if m["role"] != want:
            at = i + len(turns) - len(body)
            raise validate.ArgumentValueError(
                f"{name}[{at}] is a {m['role']!r} turn where a {want!r} turn belongs: roles out of order. A "
                f"conversation is an optional system turn, then user and assistant turns alternating, user first.")
    if not any(m["role"] == "assistant" for m in turns):
        raise validate.ArgumentValueError(
            f"{name} has no assistant turn ({len(turns)} turns: {[m['role'] for m in turns]}); supervised "
            f"fine-tuning learns the assistant's replies, so each conversation needs at least one.")
    return turns


def _check_tokenizer(tokenizer) -> None:
    if not callable(getattr(tokenizer, "apply_chat_template", None)) or not getattr(tokenizer, "chat_template", None):
        raise validate.ArgumentTypeError(f"tokenizer must be a transformers tokenizer with a chat template "
                                         f"(e.g. SmolLM2's from helpers.llama.load_smollm2), got "
                                         f"{type(tokenizer).__name__}.")


def render_chat(tokenizer, messages, add_generation_prompt: bool = False) -> str:
    """The conversation as the raw text the model reads (the chat template applied, not tokenised)."""
    _check_tokenizer(tokenizer)
    return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=add_generation_prompt)


def _ids(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def assistant_only_labels(tokenizer, messages, max_length: int | None = None) -> tuple[list[int], list[int]]:
    """(input_ids, labels) of one conversation: labels equal the ids on the assistant's tokens (its
    reply and the end of its turn) and are -100 on every system, user and template token.

    Each assistant turn's tokens are those the full rendering of the conversation up to that turn adds
    to the rendering of the conversation before it with the generation prompt (``<|im_start|>assistant
    \\n``). Raises for a bad conversation (``check_conversation``), for a template whose renderings are
    not prefixes of each other, and when the conversation is longer than ``max_length`` tokens.
    Labels are not shifted: ``labels[t]`` is the target of the prediction made at position t - 1.
    """
    _check_tokenizer(tokenizer)
    turns = check_conversation(messages)
    max_length = validate.positive_int("max_length", max_length, optional=True)
    ids: list[int] = []
    labels: list[int] = []
    for i, m in enumerate(turns):
        if m["role"] != "assistant":
            continue
        prompt = _ids(tokenizer, render_chat(tokenizer, turns[:i], add_generation_prompt=True))
        full = _ids(tokenizer, render_chat(tokenizer, turns[:i + 1]))
        if full[:len(prompt)] != prompt or prompt[:len(ids)] != ids:
            raise validate.ArgumentValueError(
                f"the chat template does not render turn {i} as a continuation of the turns before it, so "
                f"the assistant's tokens cannot be told apart; use a template that only appends (ChatML does).")
        labels += [IGNORE] * (len(prompt) - len(ids)) + full[len(prompt):]  # prompt masked, the reply kept
        ids = full
    if max_length is not None and len(ids) > max_length:
        first = next(i for i, lab in enumerate(labels) if lab != IGNORE)
        raise validate.ArgumentValueError(
            f"the conversation is {len(ids)} tokens long (its first reply starts at token {first}), more than "
            f"max_length={max_length}; shorten the user's text or raise max_length (at most the model's context).")
    return ids, labels


def encode_chats(tokenizer, conversations, max_length: int = 512, pad_id: int | None = None):
    """Many conversations -> (input_ids, attention_mask, labels), each (N, T) with T the longest one;
    padding has attention 0 and label -100. The tuple suits ``helpers.batches.random_batches``
    (attention mask at column 1) and ``sft_step``."""
    if isinstance(conversations, (str, dict)) or not isinstance(conversations, Sequence) or not conversations:
        raise validate.ArgumentValueError(f"conversations must be a non-empty list of conversations, "
                                          f"got {validate._show(conversations)}.")
    max_length = validate.positive_int("max_length", max_length)
    pad = tokenizer.pad_token_id if pad_id is None else validate.non_negative_int("pad_id", pad_id)
    pad = tokenizer.eos_token_id if pad is None else pad
    rows = []
    for k, conv in enumerate(conversations):
        try:
            rows.append(assistant_only_labels(tokenizer, conv, max_length))
        except validate.CourseError as e:
            raise type(e)(f"conversation {k}: {e}") from None
    T = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), T), pad, dtype=torch.long)
    attention = torch.zeros((len(rows), T), dtype=torch.long)
    labels = torch.full((len(rows), T), IGNORE, dtype=torch.long)
    for r, (ids, lab) in enumerate(rows):
        input_ids[r, :len(ids)] = torch.tensor(ids)
        attention[r, :len(ids)] = 1
        labels[r, :len(ids)] = torch.tensor(lab)
    return input_ids, attention, labels


def _logits(model, input_ids, attention_mask=None):
    """Logits (B, T, vocab) of a transformers/peft model or of the course's Llama / GPT."""
    if hasattr(model, "config") and hasattr(model.config, "model_type"):  # transformers (or peft around it)
        return model(input_ids=input_ids, attention_mask=attention_mask).logits
    out = model(input_ids)
    return out[0] if isinstance(out, tuple) else out


# transformers models whose output layer is one plain Linear on the decoder's last hidden state (no
# logit soft-capping or scaling after it): the ones labelled_logits may split into body and head
_PLAIN_HEAD = ("llama", "gpt2", "mistral", "qwen2")


def labelled_logits(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor):
    """The logits only where they are scored: (N, vocab) at the N positions t whose next label
    labels[:, t + 1] is not -100, with those targets (N,) and the row of each (N,). The same numbers
    as ``_logits(...)[:, :-1]`` there, but for a transformers decoder the output layer runs on those
    positions only: SmolLM2's is 576 x 49,152 (a fifth of a forward pass), and in an SFT batch only
    about one token in six is the assistant's."""
    targets = labels[:, 1:]  # (B, T-1): position t predicts token t + 1
    scored = targets != IGNORE
    hf = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft: the wrapped model
    if getattr(getattr(hf, "config", None), "model_type", None) in _PLAIN_HEAD:
        hidden = hf.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
        logits = hf.get_output_embeddings()(hidden[:, :-1][scored])  # (N, vocab)
    else:
        logits = _logits(model, input_ids, attention_mask)[:, :-1][scored]
    return logits, targets[scored], scored.nonzero()[:, 0]


def sft_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the labelled tokens: logits (B, T, vocab) at t predict labels (B, T) at
    t + 1; -100 labels (prompt, template, padding) count for nothing."""
    validate.tensor("logits", logits, ndim=3)
    validate.tensor("labels", labels, ndim=2)
    if logits.shape[:2] != labels.shape:
        raise validate.ShapeError(f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} must share "
                                  f"(batch, tokens).")
    targets = labels[:, 1:]  # (B, T-1)
    if not bool((targets != IGNORE).any()):
        raise validate.ArgumentValueError("labels has no token to learn (all -100 after the first position); "
                                          "does every conversation end with an assistant turn?")
    return F.cross_entropy(logits[:, :-1].float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE)


def trim_padding(input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor):
    """A right-padded batch (B, T) each without the columns that are padding in every row: the same
    loss and log-probabilities, less work (``encode_chats`` pads every conversation to the longest)."""
    from .text_batches import trim_batch

    input_ids, attention_mask = trim_batch(input_ids, attention_mask)  # (B, T') with T' <= T
    return input_ids, attention_mask, labels[:, :input_ids.shape[1]]


def sft_step(model, batch):
    """The step of ``helpers.training.train`` for SFT: batch = (input_ids, attention_mask, labels)
    (B, T) each -> (loss on the assistant tokens, {"tokens": labelled tokens in the batch})."""
    input_ids, attention_mask, labels = trim_padding(*batch)
    logits, targets, _ = labelled_logits(model, input_ids, attention_mask, labels)  # = sft_loss, on fewer logits
    if not len(targets):
        raise validate.ArgumentValueError("the batch has no token to learn (every label -100); does every "
                                          "conversation end with an assistant turn?")
    return F.cross_entropy(logits.float(), targets), {"tokens": float(len(targets))}


def add_causal_lora(model, r: int = 8, alpha: int | None = None, dropout: float = 0.05,
                    target_modules: Sequence[str] | None = ("q_proj", "v_proj")):
    """A transformers causal LM wrapped with peft LoRA adapters (rank r, scale alpha / r, default 2r)
    on ``target_modules``; everything else frozen. ``model.disable_adapter()`` gives the base back."""
    from peft import LoraConfig, get_peft_model

    r = validate.positive_int("r", r)
    alpha = validate.positive("alpha", alpha if alpha is not None else 2 * r)
    dropout = validate.real("dropout", dropout, low=0, high=1, high_open=True)
    config = LoraConfig(task_type="CAUSAL_LM", r=r, lora_alpha=alpha, lora_dropout=dropout,
                        target_modules=list(target_modules) if target_modules else None)
    return get_peft_model(model, config)


def prompt_ids(tokenizer, messages) -> torch.Tensor:
    """(1, T) token ids of a conversation up to and including the assistant's header: the generation
    prompt. The conversation ends with a user turn (a trailing assistant turn is dropped)."""
    turns = list(messages)
    if turns and isinstance(turns[-1], dict) and turns[-1].get("role") == "assistant":
        turns = turns[:-1]
    check_conversation(turns + [{"role": "assistant", "content": ""}])
    return torch.tensor([_ids(tokenizer, render_chat(tokenizer, turns, add_generation_prompt=True))])


def end_of_turn_id(tokenizer) -> int:
    """The token that closes a turn (``<|im_end|>`` for ChatML), where a reply stops."""
    tid = tokenizer.convert_tokens_to_ids("<|im_end|>")
    return tid if isinstance(tid, int) and tid != tokenizer.unk_token_id else tokenizer.eos_token_id


def chat_reply(model, tokenizer, messages, max_new_tokens: int = 64, greedy: bool = True,
               temperature: float = 1.0, top_p: float | None = None, generator=None, on_token=None) -> str:
    """The assistant's next reply to a conversation (ending with a user turn), through the course's
    ``generate`` (with its KV cache for the course's Llama); stops at the end-of-turn token.
    ``on_token(ids)`` sees each new token (1, 1) as it comes (for streaming)."""
    max_new_tokens = validate.positive_int("max_new_tokens", max_new_tokens)
    idx = prompt_ids(tokenizer, messages).to(next(model.parameters()).device)
    stop = end_of_turn_id(tokenizer)
    out = generate(model, idx, max_new_tokens, temperature=temperature, top_p=top_p, greedy=greedy,
                   generator=generator, stop_token=stop, on_token=on_token)[0, idx.shape[1]:].tolist()
    if stop in out:
        out = out[:out.index(stop)]
    return tokenizer.decode(out, skip_special_tokens=True).strip()
