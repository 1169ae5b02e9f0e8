"""Summarising papers: ACLSum's human summaries, two extractive baselines, and SmolLM2 prompted to summarise.

    ASPECTS, SECTIONS    the three summaries each paper has; the three sections its sentences come from
    aclsum_papers        the papers of one split (100 train, 50 val, 100 test), read from the JSON-lines
                         files the ``aclsum`` package ships (the package itself is never imported: its
                         ``__init__`` needs ``sienna``, which the course does not install)
    source_text          abstract + introduction + conclusion as one text, cropped to a token budget
    lead_k               the abstract's first k sentences: the classic baseline to beat
    oracle_summary       greedily the source sentences that raise ROUGE-L most against the human summary:
                         an upper bound for any extractive method (it reads the answer)
    summary_messages     the chat (system + user) that asks for one aspect's summary
    summarise            SmolLM2 (or any causal LM the one ``generate`` drives) answers each chat
    summary_chats        the same chats with the human summary as the assistant's answer (for SFT)
    lora_summariser      SmolLM2 + LoRA fine-tuned on those chats (``helpers.instruct``: labels on the
                         answer only, through the one training loop), merged back into the course's
                         Llama so that it generates with the KV cache
    rouge_scores         ROUGE-1/2/L F1 (the course's ``helpers.metrics.rouge``) under short names

Why crop the source: a paper's three sections are ~1,000 words (~1,300 SmolLM2 tokens); reading them
costs the CPU seconds per paper, and a fine-tuning step several times that. The abstract and the
conclusion hold the outcome; the introduction mostly motivates. So the introduction gives way first
(from its end), then the conclusion, then the abstract, until the text fits; ``summarise`` warns how
many sources were cropped.
"""

from __future__ import annotations

import json
import warnings
from typing import Callable, Sequence

import torch

from . import validation as V
from .metrics import rouge

ASPECTS = ("challenge", "approach", "outcome")
SECTIONS = ("abstract", "introduction", "conclusion")
SPLITS = ("train", "val", "test")
CROP_ORDER = ("introduction", "conclusion", "abstract")  # which section gives way first (from its end)

QUESTIONS = {  # one question per aspect; "one sentence" because the human summaries are one (~21 words)
    "challenge": "What problem or challenge does this paper address?",
    "approach": "What approach or method does this paper propose?",
    "outcome": "What is the main outcome or finding of this paper?",
}
SYSTEM = "You are a helpful assistant that summarises scientific papers in one short sentence."


def aclsum_papers(split: str) -> list[dict]:
    """ACLSum's papers of one split: dicts with ``id``, ``title``, ``summary`` (one text per aspect) and
    ``sentences`` (a list per section)."""
    from . import data

    V.one_of("split", split, SPLITS)
    path = data.asset_path("aclsum") / f"{split}.jsonl"  # a clear message, with the pip command, if missing
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_paper(paper) -> dict:
    if not isinstance(paper, dict) or not isinstance(paper.get("sentences"), dict):
        raise V.ArgumentTypeError(f"paper must be an ACLSum paper (a dict with 'sentences' per section, from "
                                  f"aclsum_papers); got {_show(paper)} ({type(paper).__name__}).")
    return paper


def _count_words(text: str) -> int:
    return len(text.split())


def source_text(paper: dict, max_tokens: int | None = None, count: Callable[[str], int] | None = None,
                headings: bool = True) -> tuple[str, bool]:
    """(text, cropped): the paper's abstract, introduction and conclusion sentences in order (under
    "Abstract:" etc. headings), and whether sentences were dropped to keep ``count(text) <= max_tokens``.

    ``count`` measures a piece of text (default: words; pass a tokenizer's length for tokens). The
    introduction's last sentences go first, then the conclusion's, then the abstract's; a single
    sentence over the budget is cut word by word.
    """
    _check_paper(paper)
    max_tokens = V.positive_int("max_tokens", max_tokens, optional=True)
    V.boolean("headings", headings)
    if count is not None:
        V.callable_("count", count)
    count = count or _count_words
    kept = {s: [x for x in paper["sentences"].get(s, []) if isinstance(x, str) and x.strip()] for s in SECTIONS}

    def render(parts):
        blocks = [(f"{s.capitalize()}: " if headings else "") + " ".join(parts[s]) for s in SECTIONS if parts[s]]
        return "\n".join(blocks)

    text, cropped = render(kept), False
    if max_tokens is None:
        return text, False
    total = count(text)
    for section in CROP_ORDER:
        while total > max_tokens and kept[section] and sum(len(v) for v in kept.values()) > 1:
            total -= count(kept[section].pop()) + 1  # one sentence's cost, plus one for the joining space
            cropped = True
    text = render(kept)
    while count(text) > max_tokens and text:  # the estimate was short, or one long sentence: cut words
        words = text.split(" ")
        text, cropped = " ".join(words[:-max(1, len(words) // 20)]), True
    return text, cropped


def lead_k(paper: dict, k: int = 3) -> str:
    """The abstract's first ``k`` sentences (the introduction's if the abstract is empty)."""
    _check_paper(paper)
    k = V.positive_int("k", k)
    sentences = paper["sentences"].get("abstract") or paper["sentences"].get("introduction") or []
    return " ".join(sentences[:k])


def oracle_summary(paper: dict, reference: str, k: int = 3) -> str:
    """Up to ``k`` source sentences, picked greedily (each the one that raises ROUGE-L F1 most against the
    reference; stop when none does), in the order picked."""
    _check_paper(paper)
    V.string("reference", reference)
    k = V.positive_int("k", k)
    sentences = [x for s in SECTIONS for x in paper["sentences"].get(s, []) if isinstance(x, str) and x.strip()]
    chosen: list[str] = []
    best = 0.0
    for _ in range(k):
        gains = [(rouge([" ".join(chosen + [x])], [reference])["rougeL"]["f"], x) for x in sentences
                 if x not in chosen]
        if not gains or max(gains)[0] <= best:
            break
        best, pick = max(gains)
        chosen.append(pick)
    return " ".join(chosen)


def summary_messages(paper: dict, aspect: str = "outcome", max_tokens: int | None = None,
                     count: Callable[[str], int] | None = None) -> tuple[list[dict], bool]:
    """(messages, cropped): the system and user turns asking for one aspect of the paper in one sentence,
    the source cropped to ``max_tokens`` (measured by ``count``) as ``source_text`` does."""
    V.one_of("aspect", aspect, ASPECTS)
    text, cropped = source_text(paper, max_tokens, count)
    user = f"{text}\n\n{QUESTIONS[aspect]} Answer in one sentence."
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}], cropped


def token_counter(tokenizer) -> Callable[[str], int]:
    """count(text) -> how many tokens ``tokenizer`` makes of it (no special tokens): the budget's unit."""
    if isinstance(tokenizer, (str, bytes)) or not callable(getattr(tokenizer, "encode", None)):
        raise V.ArgumentTypeError(f"tokenizer must have an encode method (a transformers tokenizer); got "
                                  f"{_show(tokenizer)} ({type(tokenizer).__name__}).")
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False))


def chat_ids(tokenizer, messages: list[dict], answer: str | None = None):
    """The chat as token ids (1, T) through the tokenizer's own chat template, ending with the assistant's
    turn opened (so the model writes the answer), or with ``answer`` in it and closed."""
    if answer is None:
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                             return_dict=True)["input_ids"]
    V.string("answer", answer)
    full = messages + [{"role": "assistant", "content": answer}]
    return tokenizer.apply_chat_template(full, return_tensors="pt", return_dict=True)["input_ids"]


def summarise(model, tokenizer, papers: Sequence[dict], aspect: str = "outcome", max_source_tokens: int = 320,
              max_new_tokens: int = 60, progress: bool = False) -> list[str]:
    """One summary per paper, greedily decoded by the course's one ``generate`` (with its KV cache) from
    the chat of ``summary_messages``; the source cropped to ``max_source_tokens`` tokens (with a warning
    saying how many were). The answer stops at the end of the assistant's turn, or at its first line."""
    from tqdm.auto import tqdm

    from .generation import generate

    V.one_of("aspect", aspect, ASPECTS)
    max_source_tokens = V.positive_int("max_source_tokens", max_source_tokens)
    max_new_tokens = V.positive_int("max_new_tokens", max_new_tokens)
    _check_papers(papers)
    count = token_counter(tokenizer)
    stop = tokenizer.convert_tokens_to_ids("<|im_end|>") if "<|im_end|>" in tokenizer.get_vocab() \
        else tokenizer.eos_token_id
    device = next(model.parameters()).device
    out, n_cropped = [], 0
    for paper in tqdm(papers, desc=f"summarising ({aspect})", disable=not progress):
        messages, cropped = summary_messages(paper, aspect, max_source_tokens, count)
        n_cropped += cropped
        ids = chat_ids(tokenizer, messages).to(device)  # (1, prompt)
        new = generate(model, ids, max_new_tokens, greedy=True, stop_token=stop)[0, ids.shape[1]:]
        text = tokenizer.decode(new, skip_special_tokens=True).strip()
        out.append(text.split("\n")[0].strip())  # the model sometimes goes on after its sentence
    if n_cropped:
        warnings.warn(f"{n_cropped} of {len(papers)} sources were cropped to {max_source_tokens} tokens "
                      f"(the introduction's end first, then the conclusion's, then the abstract's).", stacklevel=2)
    return out


def summary_chats(papers: Sequence[dict], aspect: str = "outcome", max_tokens: int | None = None,
                  count: Callable[[str], int] | None = None) -> list[list[dict]]:
    """One conversation per paper: ``summary_messages`` and the human summary of ``aspect`` as the reply."""
    V.one_of("aspect", aspect, ASPECTS)
    _check_papers(papers)
    return [summary_messages(p, aspect, max_tokens, count)[0] + [{"role": "assistant", "content": p["summary"][aspect]}]
            for p in papers]


def top_layer_targets(n_layer: int, top: int, projections: Sequence[str] = ("q_proj", "v_proj")) -> list[str]:
    """peft target names for the attention projections of the last ``top`` of ``n_layer`` layers. Adapters
    only there mean the backward pass stops at the lowest adapted layer: a step costs little more than a
    forward pass, which is what makes a CPU fine-tune of a 135M model affordable."""
    n_layer = V.positive_int("n_layer", n_layer)
    top = V.positive_int("top", top, high=n_layer)
    return [f"layers.{i}.self_attn.{name}" for i in range(n_layer - top, n_layer) for name in projections]


def lora_summariser(hf_model, tokenizer, papers: Sequence[dict], aspect: str = "outcome",
                    max_source_tokens: int = 256, steps: int = 30, batch_size: int = 4, learning_rate: float = 2e-3,
                    r: int = 8, top_layers: int = 8, block_size: int = 1024, seed: int = 0,
                    progress: bool = False):
    """Fine-tune a copy of the transformers SmolLM2 with LoRA on the papers' summary chats; returns (the
    course's Llama with the adapters merged in, ready for ``summarise``; the training history).

    The masking, the step and LoRA are ``helpers.instruct``'s (the loss on the summary and the end of its
    turn only); ``helpers.training.train`` runs it; the base model passed in is not changed.
    """
    import copy

    from . import instruct
    from .batches import random_batches
    from .llama import Llama
    from .training import TrainConfig, train

    V.one_of("aspect", aspect, ASPECTS)
    _check_papers(papers)
    for name, value in (("max_source_tokens", max_source_tokens), ("steps", steps), ("batch_size", batch_size),
                        ("r", r), ("block_size", block_size)):
        V.positive_int(name, value)
    V.positive("learning_rate", learning_rate)
    V.non_negative_int("seed", seed)
    n_layer = hf_model.config.num_hidden_layers
    targets = top_layer_targets(n_layer, min(V.positive_int("top_layers", top_layers), n_layer))
    chats = summary_chats(papers, aspect, max_source_tokens, token_counter(tokenizer))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch = instruct.encode_chats(tokenizer, chats, max_length=block_size)  # (input_ids, mask, labels)
    torch.manual_seed(seed)
    model = instruct.add_causal_lora(copy.deepcopy(hf_model), r=r, target_modules=targets)
    get_batch = random_batches({"train": batch, "val": batch}, batch_size, next(hf_model.parameters()).device)
    cfg = TrainConfig(max_iters=steps, batch_size=batch_size, learning_rate=learning_rate,
                      min_lr=learning_rate / 10, warmup_iters=max(1, steps // 10), weight_decay=0.0,
                      eval_interval=0, eval_iters=1, seed=seed)
    history = train(model, get_batch, cfg, step_fn=instruct.sft_step, progress=progress, desc="LoRA on summaries")
    merged = model.merge_and_unload()  # W + (alpha / r) B A, once: the course's Llama reads plain weights
    return Llama.from_hf(merged.eval(), block_size), history


def _check_papers(papers) -> None:
    if isinstance(papers, dict) or not isinstance(papers, Sequence) or len(papers) == 0:
        raise V.ArgumentTypeError(f"papers must be a non-empty list of ACLSum papers (from aclsum_papers); got "
                                  f"{_show(papers)} ({type(papers).__name__}).")
    for paper in papers:
        _check_paper(paper)


def rouge_scores(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1, ROUGE-2 and ROUGE-L F1 (stemmed, as rouge-score): {"rouge_1", "rouge_2", "rouge_l"}."""
    predictions = V.list_of_str("predictions", predictions)
    references = V.list_of_str("references", references)
    if len(predictions) != len(references):
        raise V.ArgumentValueError(f"{len(predictions)} predictions but {len(references)} references: give one "
                                   f"reference per prediction, in the same order.")
    r = rouge(predictions, references)
    return {"rouge_1": r["rouge1"]["f"], "rouge_2": r["rouge2"]["f"], "rouge_l": r["rougeL"]["f"]}
