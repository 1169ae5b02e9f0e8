"""Fine-tuning a pretrained encoder for classification: a head, freezing, LoRA, a loop, metrics.

    model = SequenceClassifier(encoder, num_labels=2)    # the course's Encoder or a transformers model
    freeze(model.encoder)                                # head only
    add_lora(model, r=8)                                 # or: low-rank adapters, through peft
    history = fine_tune(model, tokenizer, splits["train"], splits["validation"], epochs=3)
    evaluate(model, tokenizer, splits["test"])           # accuracy, precision, recall, F1, confusion

``fine_tune`` runs the course's one loop (``helpers.training``): it evaluates on the validation split
after every epoch, keeps the best weights (early stopping with ``patience``), and, given
``checkpoint_dir``, saves a checkpoint after every epoch (the one format of ``helpers.checkpoint``)
from which a new call resumes where the last one stopped. Every
batch, in training and in ``predict``, is trimmed to its longest text; ``group_by_length=True``
also batches texts of similar length together, which halves the CPU time on short sentences.
Encoding a split and cutting it into batches (``encode``, ``trim_batch``, ``length_batches``) is
``helpers.text_batches``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import validation as validate
from .batches import epoch_batches
from .device import autocast, get_device
from .encoder import mean_pool
from .text_batches import Encoded, encode, length_batches, trim_batch
from .training import TrainConfig
from .training import train as train_loop

# --------------------------------------------------------------------------------------------
# The model: an encoder and a classification head
# --------------------------------------------------------------------------------------------


def encoder_hidden_size(encoder: nn.Module) -> int:
    config = getattr(encoder, "config", None)
    size = getattr(config, "hidden_size", None)
    if size is None:
        raise validate.ArgumentValueError("Cannot tell the encoder's hidden size; pass hidden_size= explicitly.")
    return int(size)


class SequenceClassifier(nn.Module):
    """An encoder, a pooling step (mean of tokens, or the first [CLS] token) and a linear head.

    ``encoder`` is the course's ``helpers.encoder.Encoder`` (returns hidden states) or any
    transformers encoder (returns an output with ``last_hidden_state``).
    """

    def __init__(self, encoder: nn.Module, num_labels: int = 2, pooling: str = "mean",
                 dropout: float = 0.1, hidden_size: int | None = None):
        super().__init__()
        validate.one_of("pooling", pooling, ("mean", "cls"))
        num_labels = validate.integer("num_labels", num_labels, low=2)  # a classifier needs 2 labels or more
        dropout = validate.probability("dropout", dropout)
        hidden_size = validate.positive_int("hidden_size", hidden_size, optional=True)
        self.encoder, self.pooling, self.num_labels = encoder, pooling, num_labels
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size or encoder_hidden_size(encoder), num_labels)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        """(batch, tokens) ids and 0/1 mask -> logits (batch, num_labels)."""
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                           **({"token_type_ids": token_type_ids} if token_type_ids is not None else {}))
        hidden = getattr(out, "last_hidden_state", out)  # (batch, tokens, hidden)
        pooled = mean_pool(hidden, attention_mask) if self.pooling == "mean" else hidden[:, 0]
        return self.head(self.dropout(pooled))  # (batch, num_labels)


def freeze(module: nn.Module) -> nn.Module:
    """Stop training ``module``'s parameters (for example the encoder: head-only fine-tuning)."""
    if not isinstance(module, nn.Module):
        raise validate.ArgumentTypeError(f"module must be a torch.nn.Module; got {type(module).__name__}.")
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def unfreeze(module: nn.Module) -> nn.Module:
    if not isinstance(module, nn.Module):
        raise validate.ArgumentTypeError(f"module must be a torch.nn.Module; got {type(module).__name__}.")
    for p in module.parameters():
        p.requires_grad_(True)
    return module


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameters, each shared tensor counted once."""
    if not isinstance(model, nn.Module):
        raise validate.ArgumentTypeError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
    seen, trainable, total = set(), 0, 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return trainable, total


# Linear layers that LoRA adapts by default: attention's projections in both layouts.
LORA_TARGETS = {
    "course": ["c_attn", "attn.c_proj"],  # helpers.encoder.Encoder
    "bert": ["query", "key", "value", "attention.output.dense"],  # transformers BertModel
}


def add_lora(model: SequenceClassifier, r: int = 8, alpha: int = 16, dropout: float = 0.1,
             target_modules: Sequence[str] | None = None) -> SequenceClassifier:
    """Freeze the encoder and add low-rank adapters (peft's LoRA) to its attention projections.

    Only the adapters and the classification head stay trainable. Works on transformers encoders
    and on the course's own Encoder alike (peft injects adapters into any ``nn.Linear`` by name).
    """
    from peft import LoraConfig, inject_adapter_in_model

    r, alpha = validate.positive_int("r", r), validate.positive("alpha", alpha)
    dropout = validate.probability("dropout", dropout)
    if target_modules is None:
        names = {n for n, _ in model.encoder.named_modules()}
        target_modules = LORA_TARGETS["course"] if any(n.endswith("c_attn") for n in names) \
            else LORA_TARGETS["bert"]
    freeze(model.encoder)
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(target_modules))
    inject_adapter_in_model(config, model.encoder)  # adds trainable lora_A / lora_B beside each Linear
    unfreeze(model.head)
    return model


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def classification_metrics(y_true, y_pred) -> dict:
    """Accuracy, macro precision, recall and F1, and the confusion matrix (scikit-learn)."""
    if isinstance(y_true, str) or isinstance(y_pred, str):
        raise validate.ArgumentTypeError("y_true and y_pred must be arrays of labels, not strings.")
    if len(y_true) != len(y_pred) or len(y_true) == 0:
        raise validate.ArgumentValueError(f"y_pred must have one label per y_true label; got {len(y_pred)} for "
                                          f"{len(y_true)} (and at least one).")
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=0)
    return {"accuracy": float(accuracy_score(y_true, y_pred)), "precision": float(p),
            "recall": float(r), "f1": float(f), "confusion": confusion_matrix(y_true, y_pred).tolist()}


@torch.no_grad()
def predict_logits(model: nn.Module, batch: Encoded, batch_size: int = 64, device=None,
                   progress: str | None = None) -> torch.Tensor:
    """Logits (n, num_labels) for every example of ``batch``, in its order. Texts are run in order of
    length and each batch is trimmed to its longest (``trim_batch``): the same logits, less padding.
    ``progress``: the label of a progress bar (none by default)."""
    if not isinstance(batch, Encoded):
        raise validate.ArgumentTypeError(f"batch must be an Encoded batch (from encode); got {type(batch).__name__}. "
                                         f"For raw texts use predict_proba(model, tokenizer, texts).")
    batch_size = validate.positive_int("batch_size", batch_size)
    device = device or next(model.parameters()).device
    model.eval()
    by_length = length_batches(batch.attention_mask.sum(1), batch_size, group_by_length=True)
    chunks = []
    for idx in tqdm(by_length, desc=progress, leave=False, disable=progress is None):
        ids, mask = trim_batch(batch.input_ids[idx], batch.attention_mask[idx])
        with autocast(device):
            chunks.append(model(ids.to(device), mask.to(device)).float().cpu())  # (batch, num_labels)
    logits = torch.cat(chunks)
    return torch.empty_like(logits).index_copy_(0, torch.cat(by_length), logits)  # back in input order


def predict(model: nn.Module, batch: Encoded, batch_size: int = 64, device=None) -> np.ndarray:
    """Predicted labels for every example of ``batch``."""
    return predict_logits(model, batch, batch_size, device).argmax(-1).numpy()


def _unlabelled(tokenizer, texts: Sequence[str], max_length: int) -> Encoded:
    texts = validate.list_of_str("texts", texts)  # a bare string would give one prediction per character
    max_length = validate.positive_int("max_length", max_length)
    enc = tokenizer(list(texts), truncation=True, max_length=max_length, padding=True, return_tensors="pt")
    return Encoded(enc["input_ids"], enc["attention_mask"], torch.zeros(len(texts), dtype=torch.long), 0)


def predict_proba(model: nn.Module, tokenizer, texts: Sequence[str], max_length: int = 64,
                  batch_size: int = 64) -> np.ndarray:
    """Class probabilities (n, num_labels) for raw ``texts``: tokenise, run, softmax."""
    return predict_logits(model, _unlabelled(tokenizer, texts, max_length), batch_size).softmax(-1).numpy()


def sentence_vectors(encoder: nn.Module, tokenizer, texts: Sequence[str], max_length: int = 64,
                     batch_size: int = 64, pooling: str = "mean", progress: str | None = None) -> torch.Tensor:
    """Pooled sentence vectors (n, hidden) from an encoder left as it is: the features of a linear probe.
    The same pooling as ``SequenceClassifier`` (its head taken off), the same trimmed batches; the encoder
    is left in eval mode (no dropout)."""
    texts = validate.list_of_str("texts", texts)
    pooled = SequenceClassifier(encoder, pooling=pooling)
    pooled.head = nn.Identity()  # the classifier now returns its pooled vector, (batch, hidden)
    return predict_logits(pooled, _unlabelled(tokenizer, texts, max_length), batch_size, progress=progress)


C_GRID = (1 / 16, 1 / 4, 1, 4, 16, 64)  # inverse regularisation strengths tried by tuned_logistic_regression


def tuned_logistic_regression(x_train, y_train, x_val, y_val, c_grid: Sequence[float] = C_GRID):
    """A scikit-learn logistic regression fitted on the training split, with the C of ``c_grid`` that
    scores best on the validation split: a linear head trained to convergence, its strength tuned."""
    c_grid = [validate.positive("c_grid", c) for c in c_grid]
    if not c_grid:
        raise validate.ArgumentValueError("c_grid is empty: give at least one inverse regularisation strength C.")
    from sklearn.linear_model import LogisticRegression

    if np.shape(x_train)[0] == 0:
        raise validate.ArgumentValueError(
            "The training split is empty: there is nothing to fit a logistic regression on.")
    fits = [LogisticRegression(C=c, max_iter=3000).fit(x_train, y_train) for c in c_grid]
    return max(fits, key=lambda m: m.score(x_val, y_val))


def evaluate(model: SequenceClassifier, tokenizer, data, max_length: int = 64, batch_size: int = 64) -> dict:
    """Metrics of ``model`` on a LabelledTexts split (see ``classification_metrics``)."""
    if not (hasattr(data, "texts") and hasattr(data, "labels")):
        raise validate.ArgumentTypeError(f"data must be a labelled split with .texts and .labels (data.LabelledTexts); "
                                         f"got {type(data).__name__}.")
    enc = encode(tokenizer, data.texts, data.labels, model.num_labels, max_length, split="evaluation")
    return classification_metrics(enc.labels.numpy(), predict(model, enc, batch_size))


# --------------------------------------------------------------------------------------------
# The loop, with early stopping and resumable checkpoints
# --------------------------------------------------------------------------------------------


@dataclass
class History:
    train_loss: list[float] = field(default_factory=list)  # mean loss of each epoch
    val_accuracy: list[float] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False

    @property
    def best_accuracy(self) -> float:
        return self.val_accuracy[self.best_epoch] if self.best_epoch >= 0 else float("nan")


def fine_tune(model: SequenceClassifier, tokenizer, train, validation, *, epochs: int = 3,
              batch_size: int = 32, lr: float = 5e-5, weight_decay: float = 0.01, max_length: int = 64,
              patience: int = 2, max_steps: int | None = None, checkpoint_dir: str | Path | None = None,
              seed: int = 0, device=None, group_by_length: bool = False) -> History:
    """Train the trainable parameters of ``model`` with AdamW and a linear decay, evaluating on the
    validation split after every epoch; stop after ``patience`` epochs without improvement and
    load back the best weights. With ``checkpoint_dir``, resume from ``last.safetensors`` there.
    The course's one loop (``helpers.training.train``) does the work, so this also runs on several
    processes under torchrun (each takes its share of every batch).

    Every batch is trimmed to its longest text (``trim_batch``). ``group_by_length=True`` also
    batches texts of similar length together (see ``length_batches``): on short, varied texts such
    as review sentences that roughly halves the time per epoch, at the price of less random batches."""
    if checkpoint_dir is not None:  # first: a file here used to fail only after a whole epoch
        checkpoint_dir = validate.dir_path("checkpoint_dir", checkpoint_dir, writable=True)
    epochs, batch_size = validate.positive_int("epochs", epochs), validate.positive_int("batch_size", batch_size)
    lr, weight_decay = validate.positive("lr", lr), validate.non_negative("weight_decay", weight_decay)
    max_length = validate.positive_int("max_length", max_length)
    patience = validate.non_negative_int("patience", patience)
    max_steps = validate.positive_int("max_steps", max_steps, optional=True)
    seed = validate.non_negative_int("seed", seed)
    group_by_length = validate.boolean("group_by_length", group_by_length)
    for name, split in (("train", train), ("validation", validation)):
        if not (hasattr(split, "texts") and hasattr(split, "labels")):
            raise validate.ArgumentTypeError(f"{name} must be a labelled split with .texts and .labels "
                                             f"(helpers.data.LabelledTexts); got {type(split).__name__}.")
        if len(split.texts) == 0:
            raise validate.ArgumentValueError(f"{name} is empty: no text to fine-tune or evaluate on (did a "
                                              f"filter remove every example?).")
    if not (isinstance(model, nn.Module) and hasattr(model, "num_labels")):
        raise validate.ArgumentTypeError(f"model must be a SequenceClassifier; got {type(model).__name__}.")
    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise validate.ArgumentValueError("No parameter of the model is trainable: unfreeze the head (or add LoRA).")
    tr = encode(tokenizer, train.texts, train.labels, model.num_labels, max_length, "train")
    va = encode(tokenizer, validation.texts, validation.labels, model.num_labels, max_length, "validation")
    steps_per_epoch = -(-len(tr.labels) // batch_size)
    total = epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs * steps_per_epoch)
    lengths = tr.attention_mask.sum(1)
    get_batch = epoch_batches(lambda g: length_batches(lengths, batch_size, g, group_by_length),
                              lambda idx: (tr.input_ids[idx], tr.attention_mask[idx], tr.labels[idx]))

    def step_fn(net, batch):
        ids, mask = trim_batch(batch[0], batch[1])  # (batch, longest in batch)
        return F.cross_entropy(net(ids, mask).float(), batch[2]), {}

    def accuracy(m):  # predict is looked up at call time (a test interrupts it)
        return {"val_accuracy": classification_metrics(va.labels.numpy(), predict(m, va, device=device))["accuracy"]}

    cfg = TrainConfig(max_iters=total, batch_size=batch_size, learning_rate=lr, min_lr=0.0, warmup_iters=0,
                      decay="linear", grad_clip=1.0, eval_interval=steps_per_epoch, seed=seed,
                      best_metric="val_accuracy", best_mode="max", patience=patience)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)  # decay on every weight, as transformers
    ckpt = Path(checkpoint_dir) / "last.safetensors" if checkpoint_dir else None
    h = train_loop(model, get_batch, cfg, ckpt_path=ckpt, step_fn=step_fn, device=device, optimizer=opt,
                   evaluate=accuracy, desc="fine-tuning")
    if h["stopped_by"] == "interrupted":
        raise KeyboardInterrupt("fine-tuning was interrupted; call fine_tune again to resume from the checkpoint")
    ends = [0] + h["eval_step"]  # the epochs' last steps
    acc = h.get("val_accuracy", [])
    return History(train_loss=[float(np.mean(h["loss"][a:b])) for a, b in zip(ends, ends[1:])], val_accuracy=acc,
                   best_epoch=acc.index(max(acc)) if acc else -1, stopped_early=h["stopped_by"] == "early stopping")


# --------------------------------------------------------------------------------------------
# Saved models
# --------------------------------------------------------------------------------------------

REQUIRED_FILES = ("config.json",)
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")


def check_saved_model_dir(path: str | Path) -> Path:
    """A ``save_pretrained`` folder that has what loading needs, or a clear error naming what is missing."""
    validate.dir_path("path", path)  # a file here: a clear error
    path = Path(path)
    if not path.is_dir():
        raise validate.MissingFileError(
            f"No saved model folder at {path}. Save one with model.save_pretrained({str(path)!r}).")
    missing = [f for f in REQUIRED_FILES if not (path / f).exists()]
    if not any((path / f).exists() for f in WEIGHT_FILES):
        missing.append(" or ".join(WEIGHT_FILES))
    if not any((path / f).exists() for f in TOKENIZER_FILES):
        missing.append(" or ".join(TOKENIZER_FILES) + " (save the tokenizer too: tokenizer.save_pretrained)")
    if missing:
        raise validate.MissingFileError(f"The saved model folder {path} is missing: {', '.join(missing)}.")
    return path
