"""Checks for notebook 09 (fine-tuning a pretrained encoder for classification)."""

import math

import numpy as np
import torch

from . import CheckFailed, Mistake, blame, compare, exercise


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


def _per_class(y_true, y_pred, k):
    """(precision, recall, f1) of each class, 0 where undefined (scikit-learn's zero_division=0)."""
    rows = []
    for c in range(k):
        tp = int(((y_pred == c) & (y_true == c)).sum())
        pred, true = int((y_pred == c).sum()), int((y_true == c).sum())
        p, r = tp / pred if pred else 0.0, tp / true if true else 0.0
        rows.append((p, r, 2 * p * r / (p + r) if p + r else 0.0))
    return np.array(rows).reshape(k, 3)


def _macro(y_true, y_pred, k, f1_of_means=False, skip_unpredicted=False):
    rows = _per_class(y_true, y_pred, k)
    if skip_unpredicted:
        rows = rows[[c for c in range(k) if (y_pred == c).any()]]
    p, r, f = rows.mean(0)
    if f1_of_means:
        f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": float(p), "recall": float(r), "f1": float(f)}


def _micro(y_true, y_pred, k):
    acc = float((y_true == y_pred).mean())
    return {"precision": acc, "recall": acc, "f1": acc}


METRIC_MISTAKES = [
    Mistake("F1 of the mean precision and recall", "Macro F1 is the mean of the per-class F1 scores, not the "
            "F1 computed from the mean precision and mean recall.",
            lambda t, p, k: _macro(t, p, k, f1_of_means=True)),
    Mistake("micro instead of macro", "Those are the counts pooled over all classes (for single-label "
            "predictions they all equal accuracy): compute each class's scores on its own, then average them.",
            _micro),
    Mistake("classes never predicted left out", "A class that is never predicted has precision 0 (0/0 counted "
            "as 0) and still counts in the average over ALL num_labels classes.",
            lambda t, p, k: _macro(t, p, k, skip_unpredicted=True)),
]


@exercise("09.1", "macro precision, recall and F1 from predictions", mistakes=METRIC_MISTAKES, hint=(
    "Treat each class c as its own yes/no problem: count true positives, everything predicted as c and "
    "everything whose true label is c. That gives c's precision, recall and F1 (0 when a ratio is 0/0). "
    "Macro scores are the plain means of those per-class numbers over all num_labels classes."))
def macro_metrics(answer) -> None:
    def checked(y_true, y_pred, k):
        got = answer(y_true, y_pred, k)
        if not isinstance(got, dict) or not {"precision", "recall", "f1"} <= set(got):
            raise CheckFailed("return a dict with the keys 'precision', 'recall' and 'f1'.")
        return {key: float(got[key]) for key in ("precision", "recall", "f1")}

    for y_true, y_pred, k, what in _metric_cases():
        shown = "" if len(y_true) > 12 else f"y_true = {y_true.tolist()}, y_pred = {y_pred.tolist()}, num_labels = {k}"
        compare(checked, _macro, (y_true, y_pred, k), atol=1e-6, what=f"macro scores on {what}", shown=shown,
                hint="Precision of class c = true positives / everything predicted as c; recall = true positives / "
                     "everything whose true label is c; average each over the classes.")


def _tiny_classifiers():
    from helpers.encoder import Encoder, EncoderConfig
    from helpers.finetuning import SequenceClassifier
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    course = Encoder(EncoderConfig(vocab_size=100, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                   intermediate_size=32, max_position_embeddings=16))
    hf = BertModel(BertConfig(vocab_size=100, hidden_size=24, num_hidden_layers=1, num_attention_heads=2,
                              intermediate_size=48, max_position_embeddings=16))
    return [("the course's Encoder", SequenceClassifier(course, 2)),
            ("a transformers BertModel", SequenceClassifier(hf, 3))]


HEAD_MISTAKES = [
    Mistake("eval() instead of freezing", "model.eval() (or torch.no_grad()) switches dropout off or skips the "
            "graph, but does not stop the optimizer from changing the weights: every encoder parameter must "
            "stop requiring gradients."),
    Mistake("the head frozen too", "Freeze the encoder only: the new head is what learns."),
    Mistake("tensors counted, not numbers", "Count the numbers in each parameter (its number of elements), "
            "not the parameter tensors themselves."),
]


@exercise("09.2", "freeze the encoder: train the head only", mistakes=HEAD_MISTAKES, hint=(
    "Every parameter has a flag that says whether gradients flow into it. Turn it off for each parameter of "
    "model.encoder and leave model.head alone. Then count: the elements of the parameters whose flag is on, "
    "and the elements of all parameters."))
def head_only(answer) -> None:
    for what, model in _tiny_classifiers():
        head = sum(p.numel() for p in model.head.parameters())
        total = sum(p.numel() for p in model.parameters())
        got = answer(model)
        still = [n for n, p in model.encoder.named_parameters() if p.requires_grad]
        if still:
            raise blame("eval() instead of freezing", f"With {what}, {len(still)} encoder parameters (e.g. "
                                                      f"{still[0]}) still require gradients.")
        frozen_head = [n for n, p in model.head.named_parameters() if not p.requires_grad]
        if frozen_head:
            raise blame("the head frozen too", f"With {what}, the head's {frozen_head} is frozen too: then "
                                               "nothing can learn.")
        if not (isinstance(got, tuple) and len(got) == 2):
            raise CheckFailed("return a pair (trainable, total) of parameter counts.")
        n_head, n_total = len(list(model.head.parameters())), len(list(model.parameters()))
        if tuple(int(v) for v in got) == (n_head, n_total):
            raise blame("tensors counted, not numbers", f"With {what} you return {tuple(got)}, expected "
                                                        f"(trainable, total) = ({head}, {total}).")
        if tuple(int(v) for v in got) != (head, total):
            raise CheckFailed(f"with {what} you return {tuple(got)}, expected (trainable, total) = ({head}, "
                              f"{total}). Count p.numel() of each parameter; trainable ones have p.requires_grad.")


SAMPLE_MISTAKES = [
    Mistake("the first n examples", "A file is often sorted by label: the first n examples may all be of "
            "one class. Draw at random, class by class."),
    Mistake("not stratified", "n examples drawn at random from the whole set keep the classes' shares only "
            "on average: sample each class on its own, in proportion to its size."),
    Mistake("the seed ignored", "Draw from a generator seeded with `seed`, so that another seed gives another "
            "sample and the same seed the same one."),
]


@exercise("09.3", "a stratified sample of n labelled examples", mistakes=SAMPLE_MISTAKES, hint=(
    "Work out how many examples each class should get (its share of the labels times n, rounded so that the "
    "counts add up to n), then draw that many distinct indices at random from that class's positions, all "
    "from one generator seeded with `seed`."))
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
            detail = (f"With {what} and n = {n}, your sample has {counts.tolist()} examples per class; a "
                      f"stratified sample has about {np.round(want, 1).tolist()} (within one).")
            raise blame("the first n examples" if np.array_equal(np.sort(idx), np.arange(n)) else "not stratified",
                        detail)
    a, b = (np.sort(np.asarray(answer(three.copy(), 100, seed))) for seed in (0, 1))
    if np.array_equal(a, b):
        raise blame("the seed ignored", "With 1,000 labels of 3 classes and n = 100, seeds 0 and 1 give the "
                                        "same sample.")
    if not np.array_equal(a, np.sort(np.asarray(answer(three.copy(), 100, 0)))):
        raise CheckFailed("the same seed must give the same sample, so that runs repeat.")


def _distil(s, t, y, T, alpha, t_squared=True, swap=False, reverse=False, student_T=True, teacher_T=True,
            batch_sum=False, twice=False):
    import torch.nn.functional as F

    Ts, Tt = (T * T if twice else T) if student_T else 1.0, (T * T if twice else T) if teacher_T else 1.0
    log_s, log_t = F.log_softmax(s / Ts, -1), F.log_softmax(t / Tt, -1)  # (B, C)
    kl = (log_s.exp() * (log_s - log_t)) if reverse else (log_t.exp() * (log_t - log_s))
    kl = kl.sum() if batch_sum else kl.sum(-1).mean()
    soft, hard = (T * T if t_squared else 1.0) * kl, F.cross_entropy(s, y)
    return (1 - alpha) * soft + alpha * hard if swap else alpha * soft + (1 - alpha) * hard


DISTIL_MISTAKES = [
    Mistake("the T^2 factor missing", "Softening by T shrinks the soft term's gradients by 1/T^2: multiply the "
            "KL term by T squared so that it keeps its weight.", lambda *a: _distil(*a, t_squared=False)),
    Mistake("alpha on the wrong term", "alpha weighs the soft (teacher) term and 1 - alpha the hard (label) "
            "term, not the other way round.", lambda *a: _distil(*a, swap=True)),
    Mistake("KL the wrong way round", "The KL goes from the teacher to the student: the expectation is under "
            "the teacher's softened probabilities.", lambda *a: _distil(*a, reverse=True)),
    Mistake("temperature on the student only", "Divide BOTH the student's and the teacher's logits by T before "
            "their softmax.", lambda *a: _distil(*a, teacher_T=False)),
    Mistake("temperature on the teacher only", "Divide BOTH the student's and the teacher's logits by T before "
            "their softmax.", lambda *a: _distil(*a, student_T=False)),
    Mistake("temperature applied twice", "The logits are divided by T once; dividing again (or by T * T) "
            "softens them twice.", lambda *a: _distil(*a, twice=True)),
    Mistake("KL summed over the batch", "Sum the KL over the classes and AVERAGE it over the batch, like the "
            "cross-entropy.", lambda *a: _distil(*a, batch_sum=True)),
]


@exercise("09.4", "the knowledge-distillation loss", mistakes=DISTIL_MISTAKES, hint=(
    "Two terms. The soft term compares the teacher's and the student's distributions, both softened by "
    "dividing the logits by T: the KL divergence from the teacher to the student, summed over classes, "
    "averaged over the batch, times T squared. The hard term is the ordinary cross-entropy of the student's "
    "raw logits with the labels. alpha mixes them: alpha for the soft term, 1 - alpha for the hard one."))
def distillation(answer) -> None:
    """answer(student_logits (B, C), teacher_logits (B, C), labels (B,), temperature, alpha) -> a 0-d tensor."""
    import torch

    from helpers.distillation import distillation_loss

    def as_number(*args):
        got = answer(*args)
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            return float(got.detach())
        if not isinstance(got, float):
            raise CheckFailed(f"Return the loss as one number (a 0-d tensor); got {got!r}.")
        return got

    g = torch.Generator().manual_seed(9)
    for B, C, T, alpha in [(4, 2, 2.0, 0.5), (8, 2, 2.0, 0.9), (6, 5, 4.0, 0.7), (3, 3, 2.0, 0.0), (5, 4, 3.0, 1.0)]:
        s, t = torch.randn(B, C, generator=g) * 2, torch.randn(B, C, generator=g) * 3
        y = torch.randint(C, (B,), generator=g)
        shown = (f"student = {[[round(v, 2) for v in r] for r in s.tolist()]}, teacher = "
                 f"{[[round(v, 2) for v in r] for r in t.tolist()]}, labels = {y.tolist()}" if B * C <= 8 else
                 f"random logits for {B} examples, {C} classes")
        compare(as_number, lambda *a: float(distillation_loss(*a)), (s, t, y, T, alpha), atol=1e-4,
                what=f"the loss with T = {T}, alpha = {alpha}", shown=shown,
                hint="loss = alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * "
                     "cross_entropy(student, labels), the KL averaged over the batch.")
