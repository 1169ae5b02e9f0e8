"""Checks for notebook 09 (fine-tuning a pretrained encoder for classification)."""

import math

import numpy as np
import torch

from . import CheckFailed, exercise


def _metric_cases():
    """(y_true, y_pred, num_labels, what) cases, from easy to the edges that trip people up."""
    rng = np.random.default_rng(0)
    y3 = rng.integers(0, 3, 60)
    noisy3 = np.where(rng.random(60) < 0.4, rng.integers(0, 3, 60), y3)
    return [
        (np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 2, "a small binary case"),
        (np.array([0, 1, 0, 1, 1, 1, 1, 1]), np.array([1, 1, 1, 1, 1, 1, 0, 1]), 2, "unbalanced binary labels"),
        (y3, noisy3, 3, "three classes"),
        (np.array([0, 1, 2, 2, 1, 0, 2]), np.array([0, 1, 1, 1, 1, 0, 0]), 3,
         "class 2 is never predicted (its precision is 0/0: count it as 0)"),
        (np.array([1, 1, 1, 0]), np.array([1, 1, 1, 1]), 2, "a model that always says 1"),
    ]


@exercise("09.1", "macro precision, recall and F1 from predictions")
def macro_metrics(answer) -> None:
    from sklearn.metrics import precision_recall_fscore_support

    for y_true, y_pred, k, what in _metric_cases():
        got = answer(y_true.copy(), y_pred.copy(), k)
        if not isinstance(got, dict) or not {"precision", "recall", "f1"} <= set(got):
            raise CheckFailed("return a dict with the keys 'precision', 'recall' and 'f1'.")
        want = dict(zip(("precision", "recall", "f1"), precision_recall_fscore_support(
            y_true, y_pred, labels=list(range(k)), average="macro", zero_division=0)[:3]))
        for key in ("precision", "recall", "f1"):
            value = float(got[key])
            if not math.isclose(value, want[key], abs_tol=1e-6):
                hint = {
                    "precision": "Precision of class c = true positives / everything predicted as c "
                                 "(0 when nothing is predicted as c); average over the classes.",
                    "recall": "Recall of class c = true positives / everything whose true label is c; "
                              "average over the classes.",
                    "f1": "Macro F1 is the mean of the per-class F1 scores, not the F1 of the mean "
                          "precision and mean recall; a class with precision and recall both 0 has F1 0.",
                }[key]
                shown = "" if len(y_true) > 12 else f" (y_true={y_true.tolist()}, y_pred={y_pred.tolist()})"
                raise CheckFailed(f"on {what}{shown} your macro {key} is {value:.4f}, scikit-learn's is "
                                  f"{want[key]:.4f}. {hint}")


def _tiny_classifiers():
    from helpers.finetuning import SequenceClassifier
    from helpers.transformer import Encoder, EncoderConfig
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    course = Encoder(EncoderConfig(vocab_size=100, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                   intermediate_size=32, max_position_embeddings=16))
    hf = BertModel(BertConfig(vocab_size=100, hidden_size=24, num_hidden_layers=1, num_attention_heads=2,
                              intermediate_size=48, max_position_embeddings=16))
    return [("the course's Encoder", SequenceClassifier(course, 2)),
            ("a transformers BertModel", SequenceClassifier(hf, 3))]


@exercise("09.2", "freeze the encoder: train the head only")
def head_only(answer) -> None:
    for what, model in _tiny_classifiers():
        head = sum(p.numel() for p in model.head.parameters())
        total = sum(p.numel() for p in model.parameters())
        got = answer(model)
        still = [n for n, p in model.encoder.named_parameters() if p.requires_grad]
        if still:
            raise CheckFailed(
                f"with {what}, {len(still)} encoder parameters (e.g. {still[0]}) still require gradients, so "
                "the optimizer would change them. model.eval() or torch.no_grad() do not freeze anything "
                "for training: set requires_grad_(False) on every parameter of model.encoder.")
        frozen_head = [n for n, p in model.head.named_parameters() if not p.requires_grad]
        if frozen_head:
            raise CheckFailed(f"with {what}, the head's {frozen_head} is frozen too: then nothing can learn. "
                              "Freeze model.encoder only.")
        if not (isinstance(got, tuple) and len(got) == 2):
            raise CheckFailed("return a pair (trainable, total) of parameter counts.")
        if tuple(int(v) for v in got) != (head, total):
            raise CheckFailed(f"with {what} you return {tuple(got)}, expected (trainable, total) = ({head}, "
                              f"{total}). Count p.numel() of each parameter; trainable ones have p.requires_grad.")


@exercise("09.3", "a stratified sample of n labelled examples")
def stratified_sample(answer) -> None:
    sorted_binary = np.repeat([0, 1], [500, 500])  # a file sorted by label, as many are
    rng = np.random.default_rng(1)
    three = rng.permutation(np.repeat([0, 1, 2], [600, 300, 100]))
    for labels, n, what in [(sorted_binary, 50, "1,000 labels sorted by class (500 of each)"),
                            (three, 100, "1,000 labels of 3 classes in proportions 60/30/10 %"),
                            (three, 7, "the same labels, n = 7"),
                            (sorted_binary, 1000, "n equal to the number of examples")]:
        got = answer(labels.copy(), n, 0)
        idx = np.asarray(got)
        if idx.ndim != 1 or len(idx) != n or not np.issubdtype(idx.dtype, np.integer):
            raise CheckFailed(f"with {what}, return {n} integer indices; got {type(got).__name__} of shape "
                              f"{idx.shape} and dtype {idx.dtype}.")
        if len(np.unique(idx)) != n or idx.min() < 0 or idx.max() >= len(labels):
            raise CheckFailed(f"with {what}, the indices must be distinct and lie in 0..{len(labels) - 1}: "
                              "sample without replacement.")
        counts = np.bincount(labels[idx], minlength=labels.max() + 1)
        want = n * np.bincount(labels) / len(labels)
        if np.abs(counts - want).max() >= 1:
            raise CheckFailed(f"with {what} and n = {n}, your sample has {counts.tolist()} examples per class; "
                              f"a stratified sample has about {np.round(want, 1).tolist()} (within one). "
                              "Taking the first n examples, or n at random from the whole set, does not keep "
                              "the classes' shares: sample each class on its own.")
    a, b = (np.sort(np.asarray(answer(three.copy(), 100, seed))) for seed in (0, 1))
    if np.array_equal(a, b):
        raise CheckFailed("seeds 0 and 1 give the same sample: draw the examples at random, from a generator "
                          "seeded with `seed` (np.random.default_rng(seed)).")
    if not np.array_equal(a, np.sort(np.asarray(answer(three.copy(), 100, 0)))):
        raise CheckFailed("the same seed must give the same sample, so that runs repeat.")


@exercise("09.4", "the knowledge-distillation loss")
def distillation(answer) -> None:
    """answer(student_logits (B, C), teacher_logits (B, C), labels (B,), temperature, alpha) -> a 0-d tensor."""
    import torch
    import torch.nn.functional as F

    from helpers.distillation import distillation_loss

    g = torch.Generator().manual_seed(9)
    for B, C, T, alpha in [(4, 2, 1.0, 0.5), (8, 2, 2.0, 0.9), (6, 5, 4.0, 0.7), (3, 3, 2.0, 0.0), (5, 4, 3.0, 1.0)]:
        s, t = torch.randn(B, C, generator=g) * 2, torch.randn(B, C, generator=g) * 3
        y = torch.randint(C, (B,), generator=g)
        want = distillation_loss(s, t, y, T, alpha).item()
        got = answer(s.clone(), t.clone(), y.clone(), T, alpha)
        got = float(got.detach()) if isinstance(got, torch.Tensor) and got.numel() == 1 else got
        if not isinstance(got, float):
            raise CheckFailed(f"Return the loss as one number (a 0-d tensor); got {got!r}.")
        if abs(got - want) <= 1e-4 * max(1.0, abs(want)):
            continue
        p_t = F.softmax(t / T, -1)
        kl = (p_t * (p_t.log() - F.log_softmax(s / T, -1))).sum(-1).mean().item()
        ce = F.cross_entropy(s, y).item()
        reverse = (F.softmax(s / T, -1) * (F.log_softmax(s / T, -1) - p_t.log())).sum(-1).mean().item()
        guesses = {
            "the T^2 factor is missing: softening by T shrinks the soft term's gradients by 1/T^2, so multiply "
            "the KL term by T * T": alpha * kl + (1 - alpha) * ce,
            "alpha weighs the soft (teacher) term and 1 - alpha the hard (label) term, not the other way round":
                (1 - alpha) * T * T * kl + alpha * ce,
            "KL goes from the teacher to the student: sum p_teacher * (log p_teacher - log p_student)":
                alpha * T * T * reverse + (1 - alpha) * ce,
            "divide both the student's and the teacher's logits by T before the softmax":
                alpha * T * T * (F.softmax(t, -1) * (F.log_softmax(t, -1) - F.log_softmax(s, -1))).sum(-1).mean().item()
                + (1 - alpha) * ce,
            "the KL is summed over classes and averaged over the batch": alpha * T * T * kl * B + (1 - alpha) * ce,
        }
        hint = next((h for h, v in guesses.items() if abs(got - v) <= 1e-4 * max(1.0, abs(v))),
                    "loss = alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * "
                    "cross_entropy(student, labels), the KL averaged over the batch.")
        raise CheckFailed(f"For {B} examples, {C} classes, T = {T}, alpha = {alpha} the loss is {want:.5f}; you "
                          f"returned {got:.5f}. Hint: {hint}.")
