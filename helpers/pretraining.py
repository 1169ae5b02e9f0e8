"""Pretraining: the data of the two objectives (GPT's causal LM, BERT's MLM and NSP) and a mini-BERT.

    CharVocab               characters <-> ids, for the Shakespeare GPT
    causal_lm_batch         (x, y) windows of a token stream, y shifted one to the left (GPT)
    mask_tokens             BERT's masking: 15% chosen; of those 80% [MASK], 10% random, 10% kept
    nsp_pairs               next-sentence-prediction pairs: half true continuations, half random
    pack_documents          documents packed into full blocks [CLS] a .. [SEP] b .. (RoBERTa's way)
    MiniBertForPreTraining  the course's Encoder with BERT's MLM head (and NSP head), notebooks 06, 10
    transfer_encoder        a pretrained encoder's weights into a fine-tuning model (the head stays new)

The loop and the checkpoints live in ``helpers.training`` and ``helpers.checkpoint``; their names are
importable from here too, as the notebooks do: ``train``, ``TrainConfig``, ``lr_at``,
``make_optimizer``, ``estimate_loss``, ``save_checkpoint``, ``load_checkpoint``, ``checkpoint_info``.
A model trains with ``train(model, get_batch, cfg)`` where ``get_batch(split, generator)`` returns a
tuple of tensors and ``model(*batch)`` returns ``(logits, loss)`` (the course's GPT does). For models
with several losses (BERT's two heads) pass ``step_fn(model, batch) -> (loss, {"mlm": .., "nsp": ..})``.
"""

from __future__ import annotations

import random
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import validation as validate
from .checkpoint import checkpoint_info, load_checkpoint, save_checkpoint  # noqa: F401  (re-exported)
from .training import TrainConfig, estimate_loss, lr_at, make_optimizer, train  # noqa: F401  (re-exported)

IGNORE_INDEX = -100  # label of positions that carry no loss (torch's cross_entropy default)

# --------------------------------------------------------------------------------------------
# Causal language modelling data
# --------------------------------------------------------------------------------------------


class CharVocab:
    """A character-level vocabulary: every distinct character of a text gets an id (sorted order)."""

    def __init__(self, text: str):
        validate.string("text", text, non_empty=False)
        if not text:
            raise validate.ArgumentValueError("text is empty: CharVocab needs a text to collect characters from.")
        self.chars = sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def __repr__(self) -> str:
        return f"CharVocab({len(self)} characters)"

    def encode(self, text: str) -> list[int]:
        validate.string("text", text, non_empty=False)
        unknown = sorted(set(text) - set(self.stoi))
        if unknown:
            raise validate.UnknownNameError(f"text holds characters not in the vocabulary: {unknown[:10]}")
        return [self.stoi[c] for c in text]

    def decode(self, ids) -> str:
        ids = validate.token_ids("ids", ids, vocab_size=len(self.chars), min_len=0).tolist()
        return "".join(self.chars[i] for i in ids)


def split_tokens(ids: torch.Tensor, val_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """The first (1 - val_fraction) of a token stream for training, the rest for validation."""
    validate.tensor("ids", ids, ndim=1)
    val_fraction = validate.real("val_fraction", val_fraction, 0, 1, high_open=True)
    n = int(len(ids) * (1 - val_fraction))
    return ids[:n], ids[n:]


def causal_lm_batch(data: torch.Tensor, block_size: int, batch_size: int,
                    generator: torch.Generator | None = None, device="cpu"):
    """batch_size random windows of ``data`` (a 1-D token tensor): x (B, T) and y (B, T) = x shifted by one.

    Position t of y is the token that follows x[:, :t+1]; the model learns to predict it.
    """
    validate.tensor("data", data, dtype="integer", ndim=1)  # a 1-D stream of token ids
    block_size = validate.positive_int("block_size", block_size)
    batch_size = validate.positive_int("batch_size", batch_size)
    if len(data) <= block_size:
        raise validate.ArgumentValueError(f"the corpus has {len(data)} tokens, too short for block_size {block_size}: "
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
    if not isinstance(vocab, dict):
        raise validate.ArgumentTypeError(
            f"vocab must be a dict token -> id or a tokenizer; got {type(vocab).__name__}.")
    needed = validate.list_of_str("needed", needed)
    missing = [t for t in needed if t not in vocab]
    if missing:
        raise validate.ArgumentValueError(
            f"the vocabulary lacks the special tokens {missing}; BERT pretraining needs {list(needed)}. Add them "
            f"(e.g. tokenizer.add_special_tokens) before training.")
    return {t: vocab[t] for t in needed}


def mask_tokens(input_ids: torch.Tensor, mask_token_id: int, vocab_size: int,
                special_mask: torch.Tensor | None = None, mlm_probability: float = 0.15,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking. input_ids (B, T) -> (inputs (B, T), labels (B, T)).

    Each token that is not special (special_mask True: [CLS], [SEP], [PAD]) is chosen with probability
    ``mlm_probability``. A chosen token becomes [MASK] 80% of the time, a random token 10%, and stays
    itself 10%; its label is the original id. Tokens not chosen get label -100 (no loss).
    """
    validate.tensor("input_ids", input_ids, dtype="integer")
    mlm_probability = validate.real("mlm_probability", mlm_probability, 0, 1, low_open=True, high_open=True)
    vocab_size = validate.positive_int("vocab_size", vocab_size)
    mask_token_id = validate.integer("mask_token_id", mask_token_id)
    if not 0 <= mask_token_id < vocab_size:
        raise validate.ArgumentValueError(
            f"mask_token_id {mask_token_id} is outside the vocabulary of {vocab_size} tokens.")
    if special_mask is not None and validate.tensor("special_mask", special_mask).shape != input_ids.shape:
        raise validate.ShapeError(f"special_mask {tuple(special_mask.shape)} must have the shape of input_ids "
                                  f"{tuple(input_ids.shape)}.")
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
    if isinstance(documents, (str, bytes)) or any(isinstance(d, str) for d in documents):
        raise validate.ArgumentTypeError("documents must be a list of documents, each a list of sentences (strings).")
    n_pairs, seed = validate.positive_int("n_pairs", n_pairs), validate.non_negative_int("seed", seed)
    docs = [list(d) for d in documents if len(d) >= 2]
    if len(docs) < 2:
        raise validate.ArgumentValueError("nsp_pairs needs at least two documents with two or more sentences each.")
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
    block_size = validate.integer("block_size", block_size, low=2)  # [CLS] and one token
    cls_id, sep_id = validate.non_negative_int("cls_id", cls_id), validate.non_negative_int("sep_id", sep_id)
    if isinstance(documents, (str, bytes)) or any(not isinstance(d, (list, tuple, torch.Tensor)) for d in documents):
        raise validate.ArgumentTypeError("documents must be a list of documents, each a list of token ids.")
    stream = torch.tensor([t for doc in documents for t in (*doc, sep_id)], dtype=torch.long)
    n = len(stream) // (block_size - 1)
    if n == 0:
        raise validate.ArgumentValueError(
            f"the documents hold {len(stream)} tokens with their [SEP]s, fewer than one block "
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
        from .encoder import Encoder

        nsp = validate.boolean("nsp", nsp)

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
        if len(mlm_logits):
            mlm_loss = F.cross_entropy(mlm_logits, mlm_labels[at])
        else:  # no token chosen (a short batch can draw none): nothing to predict, a loss of 0, not the
            mlm_loss = mlm_logits.sum()  # NaN of a mean over nothing, which would poison an average of losses
        nsp_loss = nsp_logits = None
        if self.has_nsp:
            nsp_logits = self.nsp(self.pooler(hidden[:, 0]))  # (B, 2) from the [CLS] vector
            if nsp_labels is not None:
                nsp_loss = F.cross_entropy(nsp_logits, nsp_labels)
        elif nsp_labels is not None:
            raise validate.ArgumentValueError("this model has no NSP head (nsp=False); pass nsp_labels=None.")
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
    if not isinstance(pretraining_state, dict) or not isinstance(model, nn.Module):
        raise validate.ArgumentTypeError(f"transfer_encoder needs a state dict and a model; got "
                                         f"{type(pretraining_state).__name__} and {type(model).__name__}.")
    source, target = validate.string("source", source), validate.string("target", target)
    state = {target + k[len(source):]: v for k, v in pretraining_state.items() if k.startswith(source)}
    own = model.state_dict()
    unfilled = sorted(k for k in own if k.startswith(target) and k not in state)
    unknown = sorted(k for k in state if k not in own)
    if not state or unfilled or unknown:
        raise validate.ArgumentValueError(
            f"the pretrained weights do not fit: {len(state)} found under {source!r}; {len(unfilled)} of the "
            f"model's weights under {target!r} get none (e.g. {unfilled[:2]}), {len(unknown)} pretrained "
            f"weights have no place (e.g. {unknown[:2]}). Are both encoders built from the same config?")
    result = model.load_state_dict(state, strict=False)  # shapes are still checked
    return sorted(result.missing_keys)
