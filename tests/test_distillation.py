"""helpers.distillation: the loss against a hand computation and its T^2 scaling, shrinking a classifier
(first layers, SVD-factorised embeddings), int8 quantisation, and a tiny student that learns from a teacher."""

import math

import pytest
import torch
import torch.nn.functional as F
from transformers import BertConfig, BertModel

from helpers.distillation import distil, distillation_loss, footprint, ms_per_sentence, quantize, shrink
from helpers.finetuning import SequenceClassifier, predict
from helpers.text_batches import Encoded


def tiny_classifier(seed=0, layers=4):
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=200, hidden_size=32, num_hidden_layers=layers, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=32, hidden_dropout_prob=0.0)
    return SequenceClassifier(BertModel(config, add_pooling_layer=False), num_labels=2).eval()


def test_loss_matches_a_hand_computation():
    s, t, y = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]]), torch.tensor([1])
    T, alpha = 2.0, 0.7
    ps = [math.exp(0.5) / (math.exp(0.5) + 1), 1 / (math.exp(0.5) + 1)]  # softmax(s / T)
    pt = [1 / (1 + math.e), math.e / (1 + math.e)]  # softmax(t / T)
    kl = sum(p * math.log(p / q) for p, q in zip(pt, ps))
    ce = -math.log(math.exp(0.0) / (math.exp(1.0) + 1))  # -log softmax(s)[1]
    want = alpha * T * T * kl + (1 - alpha) * ce
    assert distillation_loss(s, t, y, T, alpha).item() == pytest.approx(want, rel=1e-5)
    assert distillation_loss(s, t, y, T, 0.0).item() == pytest.approx(F.cross_entropy(s, y).item())
    assert distillation_loss(t, t, None, 3.0, 1.0).item() == pytest.approx(0.0, abs=1e-6)


def test_t_squared_keeps_the_gradient_size():
    torch.manual_seed(0)
    t = torch.randn(64, 5) * 3
    sizes = []
    for T in (5.0, 20.0):
        s = torch.randn(64, 5, generator=torch.Generator().manual_seed(1)).requires_grad_()
        distillation_loss(s, t, None, T, 1.0).backward()
        sizes.append(s.grad.norm().item())
    # the soft targets' gradient is T (p_student - p_teacher) ~ (s - t) / classes at high T: the same size
    # for T = 5 and T = 20 (without the T^2 factor it would be 16 times smaller at T = 20)
    assert sizes[1] / sizes[0] == pytest.approx(1.0, rel=0.3)


def test_clear_errors():
    s = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="temperature"):
        distillation_loss(s, s, None, 0.0, 1.0)
    with pytest.raises(ValueError, match="same shape"):
        distillation_loss(s, torch.zeros(2, 2), None, 1.0, 1.0)
    with pytest.raises(ValueError, match="labels"):
        distillation_loss(s, s, None, 1.0, 0.5)
    with pytest.raises(ValueError, match="n_layers"):
        shrink(tiny_classifier(), n_layers=9)


def test_shrink_keeps_the_first_layers_and_factorises_the_embeddings():
    teacher = tiny_classifier()
    ids, mask = torch.randint(5, 200, (3, 10)), torch.ones(3, 10, dtype=torch.long)
    same = shrink(teacher, n_layers=4, embedding_rank=31).eval()  # rank 31 of 32: almost the original
    assert (same(ids, mask) - teacher(ids, mask)).abs().max() < 0.05
    small = shrink(teacher, n_layers=1, embedding_rank=4)
    assert len(small.encoder.encoder.layer) == 1 and len(teacher.encoder.encoder.layer) == 4  # a copy
    assert footprint(small)["parameters"] < footprint(teacher)["parameters"] / 2
    assert small(ids, mask).shape == (3, 2)


def test_quantize_makes_it_smaller_and_keeps_the_answers():
    teacher = tiny_classifier()
    q = quantize(teacher)
    assert not any(isinstance(m, torch.nn.Linear) for m in q.modules())
    assert footprint(q)["megabytes"] < footprint(teacher)["megabytes"]
    assert footprint(q)["parameters"] == footprint(teacher)["parameters"]
    ids, mask = torch.randint(5, 200, (8, 10)), torch.ones(8, 10, dtype=torch.long)
    assert (q(ids, mask) - teacher(ids, mask)).abs().max() < 0.1
    assert ms_per_sentence(q, Encoded(ids, mask, torch.zeros(8, dtype=torch.long), 0), batch_size=4) > 0


def test_a_tiny_student_learns_from_its_teacher():
    torch.manual_seed(0)
    ids = torch.randint(5, 200, (256, 8))
    labels = (ids[:, 0] < 100).long()  # the first token decides
    enc = Encoded(ids, torch.ones_like(ids), labels, 0)
    teacher_logits = F.one_hot(labels, 2).float() * 4 - 2  # a confident, right teacher
    student = shrink(tiny_classifier(layers=2), n_layers=1, embedding_rank=8)
    before = (predict(student, enc) == labels.numpy()).mean()
    history = distil(student, enc, teacher_logits, enc, temperature=2.0, alpha=0.9, epochs=6, batch_size=32,
                     lr=3e-3, device="cpu", progress=False)
    after = (predict(student, enc) == labels.numpy()).mean()
    assert history["val"][-1] < history["val"][0] and after > max(0.75, before + 0.2)
