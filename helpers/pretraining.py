"""Pretraining: the data of the two objectives, and one training loop for both.

    CharVocab               characters <-> ids, for the Shakespeare GPT
    causal_lm_batch         (x, y) windows of a token stream, y shifted one to the left (GPT)
    mask_tokens             BERT's masking: 15% chosen; of those 80% [MASK], 10% random, 10% kept
    nsp_pairs               next-sentence-prediction pairs: half true continuations, half random
    pack_documents          documents packed into full blocks [CLS] a .. [SEP] b .. (RoBERTa's way)
    MiniBertForPreTraining  the course's Encoder with BERT's MLM head (and NSP head), notebooks 06, 10
    transfer_encoder        a pretrained encoder's weights into a fine-tuning model (the head stays new)
    TrainConfig, lr_at      AdamW settings and the warm-up + cosine decay schedule (nanoGPT's)
    train                   the loop: clipping, mixed precision, progress bar, periodic evaluation,
                            atomic safetensors checkpoints that resume exactly where they stopped
    save_checkpoint, load_checkpoint

A model trains with ``train(model, get_batch, cfg)`` where ``get_batch(split, generator)`` returns a
tuple of tensors and ``model(*batch)`` returns ``(logits, loss)`` (the course's GPT does). For models
with several losses (BERT's two heads) pass ``step_fn(model, batch) -> (loss, {"mlm": .., "nsp": ..})``.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .device import autocast, needs_grad_scaler

IGNORE_INDEX = -100  # label of positions that carry no loss (torch's cross_entropy default)

# --------------------------------------------------------------------------------------------
# Causal language modelling data
# --------------------------------------------------------------------------------------------


class CharVocab:
    """A character-level vocabulary: every distinct character of a text gets an id (sorted order)."""

    def __init__(self, text: str):
        if not text:
            raise ValueError("CharVocab needs a non-empty text to collect characters from.")
        self.chars = sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def __repr__(self) -> str:
        return f"CharVocab({len(self)} characters)"

    def encode(self, text: str) -> list[int]:
        unknown = sorted(set(text) - set(self.stoi))
        if unknown:
            raise KeyError(f"characters not in the vocabulary: {unknown[:10]}")
        return [self.stoi[c] for c in text]

    def decode(self, ids) -> str:
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        return "".join(self.chars[i] for i in ids)


def split_tokens(ids: torch.Tensor, val_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """The first (1 - val_fraction) of a token stream for training, the rest for validation."""
    n = int(len(ids) * (1 - val_fraction))
    return ids[:n], ids[n:]


def causal_lm_batch(data: torch.Tensor, block_size: int, batch_size: int,
                    generator: torch.Generator | None = None, device="cpu"):
    """batch_size random windows of ``data`` (a 1-D token tensor): x (B, T) and y (B, T) = x shifted by one.

    Position t of y is the token that follows x[:, :t+1]; the model learns to predict it.
    """
    if data.dim() != 1:
        raise ValueError(f"data must be a 1-D tensor of token ids, got shape {tuple(data.shape)}.")
    if len(data) <= block_size:
        raise ValueError(f"the corpus has {len(data)} tokens, too short for block_size {block_size}: "
                         f"each example needs block_size + 1 = {block_size + 1} tokens. Use more text "
                         f"or a smaller block_size.")
    ix = torch.randint(len(data) - block_size, (batch_size,), generator=generator)  # (B,) start offsets
    offsets = ix[:, None] + torch.arange(block_size + 1)  # (B, T + 1)
    chunk = data[offsets]  # (B, T + 1)
    x, y = chunk[:, :-1], chunk[:, 1:]  # (B, T) each
    if torch.device(device).type == "cuda":
        return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
    return x.to(device), y.to(device)


# --------------------------------------------------------------------------------------------
# Masked language modelling and next-sentence prediction (BERT)
# --------------------------------------------------------------------------------------------

SPECIAL_TOKENS = ("[PAD]", "[CLS]", "[SEP]", "[MASK]")


def special_token_ids(vocab, needed: Sequence[str] = SPECIAL_TOKENS) -> dict[str, int]:
    """The ids of BERT's special tokens in ``vocab`` (a dict token -> id, or a HF tokenizer).

    Raises ValueError naming the missing tokens, so a vocabulary without [MASK] fails before training.
    """
    if hasattr(vocab, "get_vocab"):
        vocab = vocab.get_vocab()
    missing = [t for t in needed if t not in vocab]
    if missing:
        raise ValueError(f"the vocabulary lacks the special tokens {missing}; BERT pretraining needs "
                         f"{list(needed)}. Add them (e.g. tokenizer.add_special_tokens) before training.")
    return {t: vocab[t] for t in needed}


def mask_tokens(input_ids: torch.Tensor, mask_token_id: int, vocab_size: int,
                special_mask: torch.Tensor | None = None, mlm_probability: float = 0.15,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking. input_ids (B, T) -> (inputs (B, T), labels (B, T)).

    Each token that is not special (special_mask True: [CLS], [SEP], [PAD]) is chosen with probability
    ``mlm_probability``. A chosen token becomes [MASK] 80% of the time, a random token 10%, and stays
    itself 10%; its label is the original id. Tokens not chosen get label -100 (no loss).
    """
    if not 0.0 < mlm_probability < 1.0:
        raise ValueError(f"mlm_probability must be in (0, 1), got {mlm_probability}.")
    if not 0 <= mask_token_id < vocab_size:
        raise ValueError(f"mask_token_id {mask_token_id} is outside the vocabulary of {vocab_size} tokens.")
    labels = input_ids.clone()
    u = torch.rand(input_ids.shape, generator=generator)  # (B, T), one draw per token decides everything
    chosen = u < mlm_probability
    if special_mask is not None:
        chosen &= ~special_mask.bool().cpu()
    chosen = chosen.to(input_ids.device)
    u = u.to(input_ids.device)
    labels[~chosen] = IGNORE_INDEX
    # split the chosen ones by where u fell inside [0, p): first 80% -> [MASK], next 10% -> random
    to_mask = chosen & (u < 0.8 * mlm_probability)
    to_random = chosen & (u >= 0.8 * mlm_probability) & (u < 0.9 * mlm_probability)
    inputs = input_ids.clone()
    inputs[to_mask] = mask_token_id
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator).to(input_ids.device)
    inputs[to_random] = random_ids[to_random]
    return inputs, labels


def nsp_pairs(documents: Sequence[Sequence[str]], n_pairs: int, seed: int = 0) -> list[tuple[str, str, int]]:
    """Next-sentence-prediction pairs (sentence A, sentence B, label) from documents split in sentences.

    Label 0: B is the sentence that follows A in its document (IsNext); label 1: B is a random
    sentence from another document (NotNext), the convention of Hugging Face's BertForPreTraining.
    Exactly half of the pairs (rounded down) are true continuations, in shuffled order.
    """
    docs = [list(d) for d in documents if len(d) >= 2]
    if len(docs) < 2:
        raise ValueError("nsp_pairs needs at least two documents with two or more sentences each.")
    rng = random.Random(seed)
    labels = [0] * (n_pairs // 2) + [1] * (n_pairs - n_pairs // 2)
    rng.shuffle(labels)
    pairs = []
    for label in labels:
        d = rng.randrange(len(docs))
        i = rng.randrange(len(docs[d]) - 1)
        a = docs[d][i]
        if label == 0:
            b = docs[d][i + 1]
        else:
            other = rng.randrange(len(docs) - 1)
            other += other >= d  # any document but d
            b = rng.choice(docs[other])
        pairs.append((a, b, label))
    return pairs


def pack_documents(documents: Sequence[Sequence[int]], block_size: int, cls_id: int, sep_id: int) -> torch.Tensor:
    """Token-id documents packed into full blocks for MLM pretraining, with no padding (RoBERTa's
    "full sentences"). -> (n_blocks, block_size) int64.

    The documents are joined into one stream, each followed by [SEP]; the stream is cut into pieces
    of block_size - 1 tokens and each piece is put after a [CLS]. A block can hold the end of one
    document and the start of the next (the [SEP] shows where); the last, incomplete piece is dropped.
    """
    if block_size < 2:
        raise ValueError(f"block_size must be at least 2 ([CLS] and one token), got {block_size}.")
    stream = torch.tensor([t for doc in documents for t in (*doc, sep_id)], dtype=torch.long)
    n = len(stream) // (block_size - 1)
    if n == 0:
        raise ValueError(f"the documents hold {len(stream)} tokens with their [SEP]s, fewer than one block "
                         f"of block_size - 1 = {block_size - 1}; give more text or a smaller block_size.")
    body = stream[: n * (block_size - 1)].view(n, block_size - 1)  # (n_blocks, block_size - 1)
    return torch.cat([torch.full((n, 1), cls_id, dtype=torch.long), body], dim=1)  # (n_blocks, block_size)


# --------------------------------------------------------------------------------------------
# A mini-BERT with its pretraining heads, and moving its encoder into a fine-tuning model
# --------------------------------------------------------------------------------------------


class MiniBertForPreTraining(nn.Module):
    """The course's ``Encoder`` with BERT's pretraining heads, as notebook 06 builds it (same names,
    so notebook 06's checkpoints load into it):

    * the MLM head: dense + GELU + LayerNorm, then the input embeddings transposed (tied) plus a bias,
      computed only at the positions that carry a label (about 15%), which saves most of the cost
      of the vocabulary-wide softmax;
    * with ``nsp=True``, the NSP head: the pooler (dense + tanh on [CLS]) and a 2-way classifier.
    """

    def __init__(self, config, nsp: bool = True):
        super().__init__()
        from .transformer import Encoder

        self.config = config
        self.bert = Encoder(config)
        h = config.hidden_size
        self.mlm_transform = nn.Sequential(nn.Linear(h, h), nn.GELU(), nn.LayerNorm(h, eps=config.layer_norm_eps))
        self.mlm_bias = nn.Parameter(torch.zeros(config.vocab_size))
        if nsp:
            self.pooler = nn.Sequential(nn.Linear(h, h), nn.Tanh())
            self.nsp = nn.Linear(h, 2)
        self.has_nsp = nsp

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Hidden states (..., H) -> vocabulary logits (..., vocab), through the tied embeddings."""
        return self.mlm_transform(hidden) @ self.bert.embeddings.word_embeddings.weight.T + self.mlm_bias

    def forward(self, input_ids, token_type_ids, attention_mask, mlm_labels, nsp_labels=None):
        """-> (mlm_loss, nsp_loss, mlm_logits (n_chosen, vocab), nsp_logits (B, 2)); without an NSP
        head (or without nsp_labels) nsp_loss is None, and so are nsp_logits without the head."""
        hidden = self.bert(input_ids, attention_mask, token_type_ids)  # (B, T, H)
        at = mlm_labels != IGNORE_INDEX  # (B, T) the chosen positions
        mlm_logits = self.mlm_logits(hidden[at])  # (n_chosen, vocab)
        mlm_loss = F.cross_entropy(mlm_logits, mlm_labels[at])
        nsp_loss = nsp_logits = None
        if self.has_nsp:
            nsp_logits = self.nsp(self.pooler(hidden[:, 0]))  # (B, 2) from the [CLS] vector
            if nsp_labels is not None:
                nsp_loss = F.cross_entropy(nsp_logits, nsp_labels)
        elif nsp_labels is not None:
            raise ValueError("this model has no NSP head (nsp=False); pass nsp_labels=None.")
        return mlm_loss, nsp_loss, mlm_logits, nsp_logits

    @torch.no_grad()
    def fill_in(self, input_ids, attention_mask, k: int = 5):
        """The k most likely tokens at every position: (B, T) -> (B, T, k) token ids."""
        return self.mlm_logits(self.bert(input_ids, attention_mask)).topk(k, dim=-1).indices


def transfer_encoder(pretraining_state: dict, model: nn.Module, source: str = "bert.",
                     target: str = "encoder.") -> list[str]:
    """Copy the encoder weights of a pretraining model (keys ``source`` + name) into ``model`` (keys
    ``target`` + name, e.g. a ``helpers.finetuning.SequenceClassifier``); the pretraining heads are
    left behind. Returns the names of ``model``'s weights that keep their initialisation (the new
    head). Raises ValueError if an encoder weight of ``model`` finds no pretrained value, so that a
    name mismatch never passes silently (``load_state_dict(strict=False)`` would load nothing).
    """
    state = {target + k[len(source):]: v for k, v in pretraining_state.items() if k.startswith(source)}
    own = model.state_dict()
    unfilled = sorted(k for k in own if k.startswith(target) and k not in state)
    unknown = sorted(k for k in state if k not in own)
    if not state or unfilled or unknown:
        raise ValueError(
            f"the pretrained weights do not fit: {len(state)} found under {source!r}; {len(unfilled)} of the "
            f"model's weights under {target!r} get none (e.g. {unfilled[:2]}), {len(unknown)} pretrained "
            f"weights have no place (e.g. {unknown[:2]}). Are both encoders built from the same config?")
    result = model.load_state_dict(state, strict=False)  # shapes are still checked
    return sorted(result.missing_keys)


# --------------------------------------------------------------------------------------------
# Optimiser and schedule
# --------------------------------------------------------------------------------------------


@dataclass
class TrainConfig:
    max_iters: int = 2000  # optimizer steps in all
    batch_size: int = 12  # examples per step (get_batch decides; kept here for the record)
    learning_rate: float = 1e-3  # peak learning rate, reached after the warm-up
    min_lr: float = 1e-4  # the floor the cosine decays to
    warmup_iters: int = 100  # linear warm-up from 0
    lr_decay_iters: int | None = None  # where the decay ends; None: max_iters
    weight_decay: float = 0.1  # AdamW, on matrices only (not biases, norms)
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0  # clip the global gradient norm; 0 turns clipping off
    eval_interval: int = 250  # evaluate every this many steps (and at the end)
    eval_iters: int = 20  # batches per split averaged in one evaluation
    ckpt_interval: int = 0  # save a checkpoint every this many steps; 0: only at evaluations
    seed: int = 1337
    max_seconds: float | None = None  # stop early after this much training time (evaluations excluded)


def lr_at(it: int, cfg: TrainConfig) -> float:
    """The learning rate at step ``it``: linear warm-up, then cosine decay to min_lr (nanoGPT)."""
    decay_iters = cfg.lr_decay_iters or cfg.max_iters
    if it < cfg.warmup_iters:
        return cfg.learning_rate * (it + 1) / (cfg.warmup_iters + 1)
    if it >= decay_iters:
        return cfg.min_lr
    ratio = (it - cfg.warmup_iters) / max(1, decay_iters - cfg.warmup_iters)
    coeff = 0.5 * (1.0 + math.cos(math.pi * ratio))  # 1 -> 0
    return cfg.min_lr + coeff * (cfg.learning_rate - cfg.min_lr)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on 2-D weights (matrices, embeddings) only, as nanoGPT."""
    params = [p for p in model.parameters() if p.requires_grad]  # parameters() de-duplicates tied ones
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2))


# --------------------------------------------------------------------------------------------
# Checkpoints: safetensors for the tensors, a JSON string in its metadata for the rest
# --------------------------------------------------------------------------------------------


def _config_dict(model) -> dict:
    config = getattr(model, "config", None)
    if config is None:
        return {}
    if is_dataclass(config):
        return asdict(config)
    if hasattr(config, "to_dict"):  # a transformers PretrainedConfig
        d = config.to_dict()
        return {k: v for k, v in d.items() if isinstance(v, (int, float, str, bool)) and not k.startswith("_")
                and k not in ("transformers_version", "torch_dtype", "dtype")}
    return {}


def save_checkpoint(path, model, optimizer=None, step: int = 0, generator: torch.Generator | None = None,
                    extra: dict | None = None, scaler=None) -> Path:
    """Write model, optimizer, RNG states and ``extra`` (JSON-able) to ``path`` atomically.

    The file is written next to ``path`` under a temporary name and then renamed over it
    (os.replace), so an interruption never leaves a half-written checkpoint behind.
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # clone: tied weights share memory, which safetensors refuses; each key gets its own copy
    tensors = {f"model.{k}": v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()}
    meta: dict = {"format": "llm-course-checkpoint/1", "step": step, "config": _config_dict(model),
                  "extra": extra or {}, "python_random": _jsonable(random.getstate())}
    if optimizer is not None:
        state = optimizer.state_dict()
        for pid, pstate in state["state"].items():
            for key, value in pstate.items():
                t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
                tensors[f"optim.{pid}.{key}"] = t.detach().cpu().clone().contiguous()
        meta["optim_groups"] = state["param_groups"]
    tensors["rng.torch"] = torch.get_rng_state()  # dropout and anything else on the global generator
    if generator is not None:
        tensors["rng.generator"] = generator.get_state()  # the batch sampler's generator
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    if scaler is not None and scaler.is_enabled():
        meta["scaler"] = {k: v for k, v in scaler.state_dict().items() if isinstance(v, (int, float))}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"course": json.dumps(meta)})
    os.replace(tmp, path)
    return path


def _jsonable(obj):
    if isinstance(obj, tuple):
        return [_jsonable(o) for o in obj]
    return obj


def _tupled(obj):
    if isinstance(obj, list):
        return tuple(_tupled(o) for o in obj)
    return obj


def checkpoint_info(path) -> dict:
    """The JSON part of a checkpoint: step, model config, extra (history), without loading tensors."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if "course" not in meta:
        raise ValueError(f"{path} is not a course checkpoint (no 'course' metadata).")
    return json.loads(meta["course"])


def load_checkpoint(path, model, optimizer=None, generator: torch.Generator | None = None,
                    scaler=None, restore_rng: bool = True) -> dict:
    """Load a checkpoint written by save_checkpoint into ``model`` (and optimizer, RNG states).

    Raises ValueError if the checkpoint was made for a model of another configuration. Returns the
    JSON part (``step``, ``config``, ``extra``).
    """
    from safetensors.torch import load_file

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    meta = checkpoint_info(path)
    want, have = meta.get("config", {}), _config_dict(model)
    if want and have and want != have:
        diff = {k: (want.get(k), have.get(k)) for k in sorted(set(want) | set(have)) if want.get(k) != have.get(k)}
        raise ValueError(f"the checkpoint {path.name} was saved from another configuration; "
                         f"differences (checkpoint, this model): {diff}. Build the model with the "
                         f"checkpoint's config, or start a fresh run in another folder.")
    tensors = load_file(str(path))
    state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    model.load_state_dict(state, strict=True)
    if optimizer is not None and "optim_groups" in meta:
        opt_state: dict = {}
        for k, v in tensors.items():
            if k.startswith("optim."):
                _, pid, key = k.split(".", 2)
                opt_state.setdefault(int(pid), {})[key] = v
        optimizer.load_state_dict({"state": opt_state, "param_groups": meta["optim_groups"]})
    if restore_rng:
        torch.set_rng_state(tensors["rng.torch"])
        if generator is not None and "rng.generator" in tensors:
            generator.set_state(tensors["rng.generator"])
        if "rng.cuda" in tensors and torch.cuda.is_available():
            torch.cuda.set_rng_state(tensors["rng.cuda"])
        random.setstate(_tupled(meta["python_random"]))
    if scaler is not None and "scaler" in meta:
        scaler.load_state_dict(meta["scaler"])
    return meta


# --------------------------------------------------------------------------------------------
# The training loop
# --------------------------------------------------------------------------------------------


def _default_step(model, batch):
    out = model(*batch)
    loss = out[1] if isinstance(out, tuple) else getattr(out, "loss", out)
    return loss, {}


@torch.no_grad()
def estimate_loss(model, get_batch, eval_iters: int, seed: int, step_fn=None, device="cpu",
                  splits: Sequence[str] = ("train", "val")) -> dict[str, float]:
    """Mean loss over ``eval_iters`` batches of each split, with a generator of its own (seeded), so
    that evaluating never changes the training batches that follow."""
    step_fn = step_fn or _default_step
    was_training = model.training
    model.eval()
    out = {}
    for j, split in enumerate(splits):
        g = torch.Generator().manual_seed(seed + 7919 * (j + 1))
        losses, parts_sum = [], {}
        for _ in range(eval_iters):
            with autocast(device):
                loss, parts = step_fn(model, get_batch(split, g))
            losses.append(float(loss))
            for k, v in parts.items():
                parts_sum[k] = parts_sum.get(k, 0.0) + float(v) / eval_iters
        out[split] = sum(losses) / len(losses)
        for k, v in parts_sum.items():
            out[f"{split}_{k}"] = v
    model.train(was_training)
    return out


def train(model, get_batch: Callable, cfg: TrainConfig, ckpt_path=None, resume: bool = True,
          step_fn: Callable | None = None, device=None, progress: bool = True,
          optimizer=None) -> dict:
    """Train ``model`` for cfg.max_iters steps; returns the history (dict of lists).

    get_batch(split, generator) -> tuple of tensors on the device, split "train" or "val".
    step_fn(model, batch) -> (loss, {name: float}); by default ``model(*batch)[1]``.
    ckpt_path: a .safetensors file; with resume=True and the file present, training continues from
    it exactly (same batches, same dropout masks, same losses on the CPU). Checkpoints are written at
    each evaluation (and every cfg.ckpt_interval steps), atomically. A KeyboardInterrupt stops the
    loop cleanly: the last checkpoint stays valid and the history so far is returned.

    History: ``step``, ``loss``, ``lr`` per step; ``eval_step``, ``train``, ``val`` (and
    ``train_<part>``/``val_<part>``) per evaluation; ``seconds`` of training; ``tokens`` seen if the
    first tensor of a batch holds tokens.
    """
    from tqdm.auto import tqdm

    device = torch.device(device) if device is not None else next(model.parameters()).device
    step_fn = step_fn or _default_step
    optimizer = optimizer or make_optimizer(model, cfg)
    scaler = torch.amp.GradScaler(device.type, enabled=needs_grad_scaler(device))
    generator = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    history: dict = {"step": [], "loss": [], "lr": [], "eval_step": [], "seconds": 0.0, "tokens": 0}
    start_step = 0
    if ckpt_path is not None and resume and Path(ckpt_path).exists():
        meta = load_checkpoint(ckpt_path, model, optimizer, generator, scaler)
        start_step = meta["step"]
        history = meta["extra"].get("history", history)
        if progress:
            print(f"resumed from {ckpt_path} at step {start_step}")

    def save(step):
        if ckpt_path is not None:
            save_checkpoint(ckpt_path, model, optimizer, step, generator,
                            extra={"history": history, "train_config": asdict(cfg)}, scaler=scaler)

    def evaluate(step):
        losses = estimate_loss(model, get_batch, cfg.eval_iters, cfg.seed + step, step_fn, device)
        history["eval_step"].append(step)
        for k, v in losses.items():
            history.setdefault(k, []).append(v)
        return losses

    model.train()
    bar = tqdm(total=cfg.max_iters, initial=start_step, disable=not progress, desc="training")
    step = start_step
    t0 = time.perf_counter() - history["seconds"]
    try:
        while step < cfg.max_iters:
            lr = lr_at(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = get_batch("train", generator)
            with autocast(device):
                loss, parts = step_fn(model, batch)
            scaler.scale(loss).backward()
            if cfg.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            history["step"].append(step)
            history["loss"].append(loss.item())
            history["lr"].append(lr)
            for k, v in parts.items():
                history.setdefault(f"loss_{k}", []).append(float(v))
            history["tokens"] += batch[0].numel()
            history["seconds"] = time.perf_counter() - t0
            bar.update(1)
            out_of_time = cfg.max_seconds is not None and history["seconds"] >= cfg.max_seconds
            last = step == cfg.max_iters or out_of_time
            if (cfg.eval_interval and step % cfg.eval_interval == 0) or last:
                te = time.perf_counter()
                losses = evaluate(step)
                bar.set_postfix(train=f"{losses['train']:.3f}", val=f"{losses['val']:.3f}")
                save(step)
                t0 += time.perf_counter() - te  # evaluation and saving are not training time
            elif cfg.ckpt_interval and step % cfg.ckpt_interval == 0:
                te = time.perf_counter()
                save(step)
                t0 += time.perf_counter() - te
            if out_of_time:
                break
    except KeyboardInterrupt:
        saved = checkpoint_info(ckpt_path)["step"] if ckpt_path and Path(ckpt_path).exists() else None
        print(f"\ninterrupted at step {step}; " + (f"the checkpoint at step {saved} is intact, run again "
              "to resume from it." if saved is not None else "no checkpoint was written."))
    finally:
        bar.close()
    return history
