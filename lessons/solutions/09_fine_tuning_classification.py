"""Solutions to the exercises of notebook 09, and typical wrong answers (the tests use both)."""

import numpy as np


def macro_metrics(y_true, y_pred, num_labels):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    precision, recall, f1 = [], [], []
    for c in range(num_labels):
        tp = np.sum((y_pred == c) & (y_true == c))
        predicted, actual = np.sum(y_pred == c), np.sum(y_true == c)
        p = tp / predicted if predicted else 0.0  # nothing predicted as c: precision 0 (scikit-learn's zero_division=0)
        r = tp / actual if actual else 0.0
        precision.append(p)
        recall.append(r)
        f1.append(2 * p * r / (p + r) if p + r else 0.0)
    return {"precision": float(np.mean(precision)), "recall": float(np.mean(recall)), "f1": float(np.mean(f1))}


def macro_metrics_wrong(y_true, y_pred, num_labels):
    m = macro_metrics(y_true, y_pred, num_labels)
    p, r = m["precision"], m["recall"]
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}  # F1 of the means


def head_only(model):
    for p in model.encoder.parameters():
        p.requires_grad_(False)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def head_only_wrong(model):
    model.encoder.eval()  # switches dropout off; gradients still flow into the encoder
    trainable = sum(p.numel() for p in model.head.parameters())
    return trainable, sum(p.numel() for p in model.parameters())


def stratified_sample(labels, n, seed):
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    counts = np.floor(n * np.array([np.mean(labels == c) for c in classes])).astype(int)
    remainders = n * np.array([np.mean(labels == c) for c in classes]) - counts
    counts[np.argsort(-remainders)[:n - counts.sum()]] += 1  # hand out what rounding down left over
    return np.concatenate([rng.choice(np.flatnonzero(labels == c), k, replace=False)
                           for c, k in zip(classes, counts)])


def stratified_sample_wrong(labels, n, seed):
    return np.arange(n)  # the first n examples: fine only if the file is shuffled


SOLUTIONS = {"09.1": macro_metrics, "09.2": head_only, "09.3": stratified_sample}
WRONG = {"09.1": macro_metrics_wrong, "09.2": head_only_wrong, "09.3": stratified_sample_wrong}


def distillation_loss(student_logits, teacher_logits, labels, temperature, alpha):
    import torch.nn.functional as F

    T = temperature
    p_teacher = F.softmax(teacher_logits / T, dim=-1)
    kl = (p_teacher * (p_teacher.log() - F.log_softmax(student_logits / T, dim=-1))).sum(-1).mean()
    return alpha * T * T * kl + (1 - alpha) * F.cross_entropy(student_logits, labels)


def distillation_loss_wrong(student_logits, teacher_logits, labels, temperature, alpha):
    import torch.nn.functional as F

    T = temperature
    p_teacher = F.softmax(teacher_logits / T, dim=-1)
    kl = (p_teacher * (p_teacher.log() - F.log_softmax(student_logits / T, dim=-1))).sum(-1).mean()
    return alpha * kl + (1 - alpha) * F.cross_entropy(student_logits, labels)  # no T^2


SOLUTIONS["09.4"] = distillation_loss
WRONG["09.4"] = distillation_loss_wrong


def head_only_all_frozen_wrong(model):
    for p in model.parameters():  # the head too: nothing left to learn
        p.requires_grad_(False)
    return 0, sum(p.numel() for p in model.parameters())


def head_only_tensors_wrong(model):
    for p in model.encoder.parameters():
        p.requires_grad_(False)
    return len([p for p in model.parameters() if p.requires_grad]), len(list(model.parameters()))  # tensors


def stratified_sample_random_wrong(labels, n, seed):
    return np.random.default_rng(seed).choice(len(labels), n, replace=False)  # random, but not per class


def stratified_sample_no_seed_wrong(labels, n, seed):
    return stratified_sample(labels, n, 0)  # the seed is ignored


WRONG["09.2"] = [head_only_wrong, head_only_all_frozen_wrong, head_only_tensors_wrong]
WRONG["09.3"] = [stratified_sample_wrong, stratified_sample_random_wrong, stratified_sample_no_seed_wrong]
