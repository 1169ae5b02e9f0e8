"""The post-training experiment's pieces, shared by notebook 12 and bench/posttraining.py: a judge
(notebook 09's fine-tuned sentiment classifier), sampled replies, per-task scores, adapters merged
into the course's Llama for fast cached generation, and adapters saved with their base model's
fingerprint (refused on another base).

    judge = sentiment_judge()                                  # trained once, then from the cache
    rewards = judge_rewards(judge, texts)                      # P(positive) per text
    fast = merged_llama(peft_model)                            # the course's Llama, adapters folded in
    replies = sample_replies(fast, tok, prompts, n=2, max_new_tokens=48, seed=0)
    scores = task_scores(fast, tok, examples)                  # {task: score}
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
from pathlib import Path
from typing import Sequence

import torch

from . import validation as validate
from .chat_data import TASKS, score
from .instruct import end_of_turn_id, prompt_ids

MAX_NEW = {"sentiment": 4, "modernise": 40, "summary": 48, "entities": 32, "continue": 40}  # tokens per reply
FILMS = ["the new science-fiction film", "a black-and-white classic", "the latest superhero sequel",
         "a French romantic comedy", "a low-budget horror film", "the documentary about whales", "a war drama",
         "an animated family film", "a musical remake", "the crime thriller set in Naples", "a western",
         "the biopic of a jazz singer", "a courtroom drama", "the heist film on a train", "a teen comedy",
         "the three-hour fantasy epic"]
# Asks of every tone, critical ones included, so that the base model's replies are far from all positive
# (SmolLM2 praises most films it is asked to review): room to see how far preference tuning steers.
ASKS = ["Write a short review of {film}.", "Give your honest opinion of {film}.",
        "Write a critical review of {film}.", "What did you think of {film}? Mention what did not work.",
        "Write a scathing review of {film}.", "What were the problems with {film}?",
        "Summarise the plot of {film} and say whether it is worth seeing."]


def review_prompts(n: int, seed: int = 0) -> list[str]:
    """n prompts that ask for a film review (films x asks, shuffled with the seed); distinct up to
    len(FILMS) * len(ASKS) = 112, then they repeat."""
    n = validate.positive_int("n", n)
    every = [a.format(film=f) for f in FILMS for a in ASKS]
    random.Random(seed).shuffle(every)
    return [every[i % len(every)] for i in range(n)]


# ---- the judge: notebook 09's fine-tuned MiniLM sentiment classifier, cached --------------------

def sentiment_judge(n_train: int = 800, epochs: int = 1, max_length: int = 64, seed: int = 0, progress: bool = True,
                    corpus: str = "imdb"):
    """(classifier, tokenizer): MiniLM + a head fine-tuned on ``corpus``'s labelled reviews (IMDB reviews,
    or the Rotten Tomatoes sentences of notebook 09: short, like the replies it will judge, and cheaper to
    train on), with ``finetuning.fine_tune`` (batches grouped by length), trained once and kept in the
    cache in the course's checkpoint format, keyed by these settings (change one and it trains again)."""
    from transformers import AutoModel, AutoTokenizer

    from . import data
    from .checkpoint import load_checkpoint, save_checkpoint
    from .finetuning import SequenceClassifier, fine_tune

    n_train = validate.integer("n_train", n_train, low=20)
    corpus = validate.one_of("corpus", corpus, ("imdb", "rotten_tomatoes"))
    tok = AutoTokenizer.from_pretrained(data.minilm_dir())
    model = SequenceClassifier(AutoModel.from_pretrained(data.minilm_dir()), num_labels=2)
    key = data.cache_key("judge-sentiment", [data.asset_path(corpus), data.minilm_dir() / "config.json"],
                         n_train=n_train, epochs=epochs, max_length=max_length, seed=seed, corpus=corpus, grouped=True)
    path = data.cache_dir() / f"{key}.safetensors"
    if path.exists():
        load_checkpoint(path, model, restore_rng=False)
    else:
        parts = data.sentiment(corpus, seed=seed, max_examples=int(n_train / 0.8) + 1)
        history = fine_tune(model, tok, parts["train"], parts["validation"], epochs=epochs, batch_size=16,
                            lr=5e-5, max_length=max_length, seed=seed, device="cpu", group_by_length=True)
        save_checkpoint(path, model, extra={"val_accuracy": history.best_accuracy})
    return model.eval(), tok


@torch.no_grad()
def judge_rewards(judge, texts: Sequence[str], max_length: int = 64) -> list[float]:
    """The judge's probability that each text is positive: the reward the preferences come from."""
    from .finetuning import predict_proba

    model, tok = judge
    texts = [t if t.strip() else "." for t in texts]
    return [float(p[1]) for p in predict_proba(model, tok, list(texts), max_length=max_length)]


# ---- fast generation: adapters folded into the course's Llama ---------------------------------

def merged_llama(model, block_size: int = 1024):
    """The course's Llama (KV cache in ``generate``) with a transformers or peft model's weights, LoRA
    adapters merged in; the given model is left as it is."""
    from .llama import Llama

    hf = model
    if hasattr(model, "merge_and_unload"):
        hf = copy.deepcopy(model).merge_and_unload()
    return Llama.from_hf(hf.eval(), block_size)


@torch.no_grad()
def sample_replies(model, tokenizer, prompts: Sequence, n: int = 1, max_new_tokens: int = 48,
                   temperature: float = 1.0, top_p: float | None = 0.95, greedy: bool = False,
                   seed: int = 0, batch_size: int = 8) -> list[list[str]]:
    """n replies per prompt (a string: one user turn, or a conversation), cut at the end-of-turn token
    -> [[reply, ...] per prompt]. ``batch_size`` prompts (times n rows) go through ``generate`` at once,
    left-padded to the longest, when the model allows it (the course's Llama); otherwise one prompt
    at a time: fewer, wider decoding steps, each reading every weight once."""
    from .generation import generate

    n, batch_size = validate.positive_int("n", n), validate.positive_int("batch_size", batch_size)
    stop = end_of_turn_id(tokenizer)
    if not getattr(model, "supports_left_padding", False):
        batch_size = 1
    g = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, len(prompts), batch_size):
        rows = []
        for p in prompts[start:start + batch_size]:
            conv = [{"role": "user", "content": p}] if isinstance(p, str) else list(p)
            rows += [prompt_ids(tokenizer, conv)[0]] * n  # (T_i,) each
        width = max(len(r) for r in rows)
        idx = torch.full((len(rows), width), stop, dtype=torch.long)  # (rows, width), left-padded
        mask = torch.zeros_like(idx)
        for i, r in enumerate(rows):
            idx[i, width - len(r):], mask[i, width - len(r):] = r, 1
        padded = bool((mask == 0).any())
        ids = generate(model, idx, max_new_tokens, temperature=temperature, top_p=top_p, greedy=greedy,
                       generator=g, stop_token=stop, attention_mask=mask if padded else None)[:, width:]
        replies = []
        for row in ids.tolist():
            row = row[:row.index(stop)] if stop in row else row
            replies.append(tokenizer.decode(row, skip_special_tokens=True).strip())
        out += [replies[i:i + n] for i in range(0, len(replies), n)]
    return out


def task_scores(model, tokenizer, examples, max_new: dict | None = None) -> dict[str, float]:
    """Greedy replies to each example's instruction, scored per task (``chat_data.score``)."""
    max_new = {**MAX_NEW, **(max_new or {})}
    by_task: dict[str, list] = {}
    for e in examples:
        by_task.setdefault(e.task, []).append(e)
    out = {}
    for task in [t for t in TASKS if t in by_task]:
        exs = by_task[task]
        replies = [r[0] for r in sample_replies(model, tokenizer, [e.prompt for e in exs], 1, max_new[task], greedy=True)]
        out[task] = round(score(task, replies, [e.answer for e in exs]), 2)
    return out


# ---- adapters saved with their base model's fingerprint ------------------------------------------

def base_fingerprint(model) -> str:
    """A short hash of a (peft-wrapped) model's base: its config and the sums of a few base weights."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    cfg = {k: v for k, v in base.config.to_dict().items() if isinstance(v, (int, float, str, bool))}
    weights = [p for n, p in base.named_parameters() if "lora_" not in n][:4]  # the same with adapters or without
    sums = [round(float(p.detach().double().sum()), 3) for p in weights]
    return hashlib.sha256(json.dumps([cfg, sums], sort_keys=True, default=str).encode()).hexdigest()[:16]


def save_adapter(model, path, extra: dict | None = None) -> Path:
    """The LoRA weights of a peft model (only those) in the course's checkpoint format, with the base
    model's fingerprint, so that ``load_adapter`` refuses them on another base."""
    from safetensors.torch import save_file

    from .checkpoint import atomic_write

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items() if "lora_" in k}
    if not state:
        raise validate.ArgumentValueError("model has no LoRA weights to save (wrap it with instruct.add_causal_lora).")
    meta = json.dumps({"base": base_fingerprint(model), "extra": extra or {}})
    return atomic_write(Path(path), lambda tmp: save_file(state, tmp, metadata={"course_adapter": meta}))


def load_adapter(model, path) -> dict:
    """Load adapters saved by ``save_adapter`` into a peft model with the same LoRA layout; refuses
    (before changing anything) adapters saved for another base model. Returns their ``extra``."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = validate.file_path("path", path)
    with safe_open(str(path), "pt") as f:
        meta = json.loads((f.metadata() or {}).get("course_adapter", "{}"))
    if meta.get("base") != base_fingerprint(model):
        raise validate.ArgumentValueError(
            f"the adapter in {path} was saved for another base model (fingerprint {meta.get('base')}, this model "
            f"{base_fingerprint(model)}); load it onto the model it was trained on.")
    state = load_file(str(path))
    missing = [k for k in state if k not in model.state_dict()]
    if missing:
        raise validate.ArgumentValueError(f"the adapter has weights this model has no place for, e.g. {missing[0]!r}; "
                                          f"wrap the model with the same LoRA settings first.")
    model.load_state_dict(state, strict=False)
    return meta.get("extra", {})


def cache_path(label: str, model, suffix: str = ".safetensors", **params) -> Path:
    """A cache file for something expensive made from ``model`` (trained adapters, sampled pairs),
    keyed by the base model's fingerprint and ``params``: change either and it is made again."""
    from . import data

    return data.cache_dir() / (data.cache_key(label, [], base=base_fingerprint(model), **params) + suffix)
