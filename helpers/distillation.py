"""Smaller and faster classifiers: knowledge distillation into a smaller student, int8 quantisation.

    student = shrink(teacher, n_layers=2, embedding_rank=48)   # its first 2 layers, factorised embeddings
    teacher_logits = predict_logits(teacher, encoded_train)     # computed once
    distil(student, encoded_train, teacher_logits, encoded_val, temperature=2.0, alpha=0.9)
    small = quantize(teacher)                                   # int8 weights in every Linear layer
    footprint(model), ms_per_sentence(model, encoded_test)      # size on disk, speed

Knowledge distillation (Hinton, Vinyals and Dean 2015): the student learns from the teacher's whole
output distribution, softened by a temperature T, not only from the one-hot label. The loss is

    alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(student, label)

The T^2 keeps the soft term's gradients the same size whatever T is (softening shrinks them by 1/T^2).
"""

from __future__ import annotations

import copy
import os
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import validation as validate
from .device import get_device
from .finetuning import SequenceClassifier, count_parameters, predict_logits
from .text_batches import Encoded, trim_batch


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor | None,
                      temperature: float = 2.0, alpha: float = 0.9) -> torch.Tensor:
    """Hinton's loss for logits (batch, classes): alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) *
    cross-entropy with the labels (leave ``labels`` None with alpha = 1 for soft targets only)."""
    validate.tensor("student_logits", student_logits, dtype="float", ndim=2)  # (batch, classes)
    validate.tensor("teacher_logits", teacher_logits, dtype="float")
    temperature, alpha = validate.positive("temperature", temperature), validate.probability("alpha", alpha)
    if temperature <= 0:
        raise validate.ArgumentValueError(f"temperature must be positive, got {temperature}.")
    if not 0.0 <= alpha <= 1.0:
        raise validate.ArgumentValueError(f"alpha must lie in [0, 1], got {alpha}.")
    if student_logits.shape != teacher_logits.shape:
        raise validate.ArgumentValueError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                         f"{tuple(teacher_logits.shape)} must have the same shape.")
    if labels is None and alpha < 1:
        raise validate.ArgumentValueError("Give the labels, or alpha=1 to learn from the teacher's soft targets only.")
    log_p_student = F.log_softmax(student_logits.float() / temperature, dim=-1)  # (batch, classes)
    p_teacher = F.softmax(teacher_logits.float() / temperature, dim=-1)
    kl = (p_teacher * (torch.log(p_teacher.clamp_min(1e-12)) - log_p_student)).sum(-1).mean()
    soft = temperature ** 2 * kl
    if alpha == 1:
        return soft
    return alpha * soft + (1 - alpha) * F.cross_entropy(student_logits.float(), labels)


def shrink(model: SequenceClassifier, n_layers: int = 2, embedding_rank: int | None = 48) -> SequenceClassifier:
    """A smaller copy of a transformers-encoder classifier: its first ``n_layers`` blocks and, with
    ``embedding_rank``, its token embeddings factorised (vocab x rank, then rank x hidden, from a
    truncated SVD of the originals: ALBERT's factorised embedding). The head is copied as it is."""
    n_layers = validate.positive_int("n_layers", n_layers)
    embedding_rank = validate.positive_int("embedding_rank", embedding_rank, optional=True)
    if not isinstance(model, nn.Module):
        raise validate.ArgumentTypeError(f"model must be a SequenceClassifier; got {type(model).__name__}.")
    student = copy.deepcopy(model).cpu()
    encoder = student.encoder
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if layers is None:
        raise validate.ArgumentTypeError("shrink needs a transformers BERT-style encoder (encoder.encoder.layer).")
    if not 1 <= n_layers <= len(layers):
        raise validate.ArgumentValueError(f"n_layers must lie in 1..{len(layers)}, got {n_layers}.")
    encoder.encoder.layer = nn.ModuleList(list(layers)[:n_layers])
    encoder.config.num_hidden_layers = n_layers
    if embedding_rank is not None:
        table = encoder.embeddings.word_embeddings.weight.detach()  # (vocab, hidden)
        if not 1 <= embedding_rank < table.size(1):
            raise validate.ArgumentValueError(f"embedding_rank must lie in 1..{table.size(1) - 1}, got {embedding_rank}.")
        u, s, vh = torch.linalg.svd(table, full_matrices=False)  # table = u diag(s) vh
        small = nn.Embedding(table.size(0), embedding_rank)
        up = nn.Linear(embedding_rank, table.size(1), bias=False)
        with torch.no_grad():
            small.weight.copy_(u[:, :embedding_rank] * s[:embedding_rank])  # (vocab, rank)
            up.weight.copy_(vh[:embedding_rank].T)  # (hidden, rank)
        encoder.embeddings.word_embeddings = nn.Sequential(small, up)
    return student


def distil(student: nn.Module, train: Encoded, teacher_logits: torch.Tensor | None, validation: Encoded, *,
           temperature: float = 2.0, alpha: float = 0.9, epochs: float = 1.0, batch_size: int = 32,
           lr: float = 2e-4, seed: int = 0, device=None, progress: bool = True) -> dict:
    """Train ``student`` with the course's loop (``helpers.pretraining.train``): the distillation loss
    against ``teacher_logits`` (n, classes) of the training examples, or with ``teacher_logits=None``
    the cross-entropy with the labels only (the same student on hard labels, for comparison)."""
    for name, split in (("train", train), ("validation", validation)):
        if not isinstance(split, Encoded):
            raise validate.ArgumentTypeError(f"{name} must be an Encoded batch (text_batches.encode); got {type(split).__name__}.")
    temperature, alpha = validate.positive("temperature", temperature), validate.probability("alpha", alpha)
    epochs, batch_size = validate.positive("epochs", epochs), validate.positive_int("batch_size", batch_size)
    lr, seed, progress = validate.positive("lr", lr), validate.non_negative_int("seed", seed), validate.boolean("progress", progress)
    from .pretraining import TrainConfig
    from .pretraining import train as train_loop

    if teacher_logits is not None and len(teacher_logits) != len(train.labels):
        raise validate.ArgumentValueError(f"{len(teacher_logits)} teacher logits for {len(train.labels)} training examples.")
    device = torch.device(device) if device is not None else get_device()
    student.to(device)
    targets = teacher_logits if teacher_logits is not None else torch.zeros(len(train.labels), 1)
    parts = {"train": (train, targets), "val": (validation, torch.zeros(len(validation.labels), 1))}

    def get_batch(split, generator):
        enc, soft = parts[split]
        idx = torch.randint(len(enc.labels), (batch_size,), generator=generator)
        ids, mask = trim_batch(enc.input_ids[idx], enc.attention_mask[idx])
        return ids.to(device), mask.to(device), enc.labels[idx].to(device), soft[idx].to(device), split

    def step(model, batch):
        ids, mask, labels, soft, split = batch
        logits = model(ids, mask)  # (batch, classes)
        if teacher_logits is None or split == "val":  # validation: plain cross-entropy, comparable
            return F.cross_entropy(logits.float(), labels), {}
        return distillation_loss(logits, soft, labels, temperature, alpha), {}

    steps = max(1, round(epochs * len(train.labels) / batch_size))
    cfg = TrainConfig(max_iters=steps, batch_size=batch_size, learning_rate=lr, min_lr=lr / 10,
                      warmup_iters=max(1, steps // 10), weight_decay=0.01, beta2=0.999,
                      eval_interval=max(1, steps // 4), eval_iters=4, seed=seed)
    return train_loop(student, get_batch, cfg, step_fn=step, device=device, progress=progress)


def quantize(model: nn.Module) -> nn.Module:
    """A copy of ``model`` on the CPU with int8 weights in every ``nn.Linear`` (dynamic quantisation:
    activations are quantised on the fly, per batch). Embeddings and layer norms stay in float32."""
    if not isinstance(model, nn.Module):
        raise validate.ArgumentTypeError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
    import warnings

    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch >= 2.9 points to torchao; the eager API still works
        return quantize_dynamic(copy.deepcopy(model).cpu().eval(), {nn.Linear}, dtype=torch.qint8)


def footprint(model: nn.Module) -> dict:
    """Parameters (quantised Linear weights counted too) and the size of the saved state dict, in MB."""
    if not isinstance(model, nn.Module):
        raise validate.ArgumentTypeError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
    fd, path = tempfile.mkstemp(suffix=".pt")
    os.close(fd)
    try:
        torch.save(model.state_dict(), path)
        size = os.path.getsize(path)
    finally:
        os.remove(path)
    params = count_parameters(model)[1]
    for m in model.modules():  # dynamic-quantised Linear layers keep their weights outside parameters()
        if hasattr(m, "weight") and callable(m.weight) and not isinstance(m, nn.Linear):
            params += m.weight().numel() + (m.bias().numel() if m.bias() is not None else 0)
    return {"parameters": int(params), "megabytes": size / 1e6}


@torch.no_grad()
def ms_per_sentence(model: nn.Module, batch: Encoded, batch_size: int = 32, repeats: int = 1) -> float:
    """Milliseconds per sentence to classify ``batch`` on the CPU in batches of ``batch_size``
    (the best of ``repeats`` runs, after one warm-up batch)."""
    if not isinstance(batch, Encoded):
        raise validate.ArgumentTypeError(f"batch must be an Encoded batch (text_batches.encode); got {type(batch).__name__}.")
    batch_size, repeats = validate.positive_int("batch_size", batch_size), validate.positive_int("repeats", repeats)
    model = model.cpu().eval()
    predict_logits(model, Encoded(batch.input_ids[:batch_size], batch.attention_mask[:batch_size],
                                  batch.labels[:batch_size], 0), batch_size, device="cpu")  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        predict_logits(model, batch, batch_size, device="cpu")
        best = min(best, time.perf_counter() - start)
    return 1000 * best / len(batch.labels)
