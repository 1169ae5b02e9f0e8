"""helpers.crf against brute force: log Z and the best path by enumerating every tag sequence of short
sentences; gradients; padding changes nothing; BIO constraints; clear errors."""

import itertools

import pytest
import torch

from helpers.crf import CRF, bio_allowed, invalid_transitions

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"]


def random_crf(num_tags, seed=0, constrained=False):
    torch.manual_seed(seed)
    crf = CRF.for_bio(LABELS) if constrained else CRF(num_tags)
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    return crf


def brute_force(crf, emissions):
    """Every tag sequence of one sentence (words, L): (log Z, best path)."""
    n, num_tags = emissions.shape
    paths = list(itertools.product(range(num_tags), repeat=n))
    scores = torch.stack([crf.path_score(emissions[None], torch.tensor([p]))[0] for p in paths])
    return torch.logsumexp(scores, 0), list(paths[int(scores.argmax())])


@pytest.mark.parametrize("n", [1, 2, 4])
@pytest.mark.parametrize("constrained", [False, True])
def test_log_partition_and_viterbi_equal_enumeration(n, constrained):
    num_tags = len(LABELS) if constrained else 3
    crf = random_crf(num_tags, seed=n, constrained=constrained)
    emissions = torch.randn(1, n, num_tags, dtype=torch.float64)
    crf.double()
    log_z, best = brute_force(crf, emissions[0])
    torch.testing.assert_close(crf.log_partition(emissions)[0], log_z)
    assert crf.decode(emissions) == [best]


def test_probabilities_sum_to_one():
    crf = random_crf(3, seed=5).double()
    emissions = torch.randn(1, 3, 3, dtype=torch.float64)
    paths = torch.tensor(list(itertools.product(range(3), repeat=3)))
    lp = crf.log_likelihood(emissions.expand(len(paths), -1, -1), paths)
    torch.testing.assert_close(lp.exp().sum(), torch.tensor(1.0, dtype=torch.float64))


def test_padding_changes_nothing():
    crf = random_crf(4, seed=1)
    lengths = [5, 2, 1, 4]
    sentences = [torch.randn(n, 4) for n in lengths]
    tags = [torch.randint(4, (n,)) for n in lengths]
    width = max(lengths) + 2
    emissions = torch.randn(len(lengths), width, 4) * 100  # the padding holds large junk
    padded_tags = torch.randint(4, (len(lengths), width))
    mask = torch.zeros(len(lengths), width, dtype=torch.bool)
    for b, n in enumerate(lengths):
        emissions[b, :n], padded_tags[b, :n], mask[b, :n] = sentences[b], tags[b], True
    batched_ll = crf.log_likelihood(emissions, padded_tags, mask)
    batched_paths = crf.decode(emissions, mask)
    for b in range(len(lengths)):
        alone = crf.log_likelihood(sentences[b][None], tags[b][None])
        torch.testing.assert_close(batched_ll[b:b + 1], alone)
        assert batched_paths[b] == crf.decode(sentences[b][None])[0]
        assert len(batched_paths[b]) == lengths[b]


def test_gradients_flow_and_training_learns_a_transition():
    crf = CRF(2)
    emissions = torch.zeros(8, 6, 2, requires_grad=True)
    tags = torch.tensor([[0, 1, 0, 1, 0, 1]] * 8)  # alternating tags: only transitions can tell
    loss = crf.loss(emissions, tags)
    loss.backward()
    assert emissions.grad.abs().sum() > 0 and all(p.grad.abs().sum() > 0 for p in crf.parameters())
    opt = torch.optim.SGD(crf.parameters(), lr=0.5)
    for _ in range(50):
        opt.zero_grad()
        crf.loss(emissions.detach(), tags).backward()
        opt.step()
    assert crf.decode(torch.zeros(1, 6, 2)) == [[0, 1, 0, 1, 0, 1]]
    assert crf.transitions[0, 1] > crf.transitions[0, 0]


def test_bio_constraints_never_decode_an_invalid_move():
    allowed_start, allowed = bio_allowed(LABELS)
    assert allowed_start.tolist() == [True, True, False, True, False]
    assert allowed[1, 2] and allowed[2, 2] and not allowed[0, 2] and not allowed[1, 4] and allowed[2, 0]
    crf = CRF.for_bio(LABELS)
    emissions = torch.randn(64, 7, len(LABELS))
    emissions[..., 2] += 3  # I-PER everywhere looks best word by word
    paths = [[LABELS[i] for i in p] for p in crf.decode(emissions)]
    assert invalid_transitions(paths) == 0
    greedy = [[LABELS[i] for i in row] for row in emissions.argmax(-1).tolist()]
    assert invalid_transitions(greedy) > 0


def test_invalid_transitions_counts():
    assert invalid_transitions([["O", "I-PER"], ["B-PER", "I-PER", "I-ORG"], ["B-ORG", "O"]]) == 2
    assert invalid_transitions([["I-PER"]]) == 1


def test_clear_errors():
    crf = CRF(3)
    e = torch.randn(2, 4, 3)
    with pytest.raises(ValueError, match="outside the label set"):
        crf.loss(e, torch.tensor([[0, 1, 2, 3], [0, 0, 0, 0]]))
    with pytest.raises(ValueError, match="length zero"):
        crf.decode(e, torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0]]))
    with pytest.raises(ValueError, match="length zero"):
        crf.decode(torch.randn(2, 0, 3))
    with pytest.raises(ValueError, match="not a prefix"):
        crf.log_partition(e, torch.tensor([[1, 0, 1, 0], [1, 1, 1, 1]]))
    with pytest.raises(ValueError, match="shape"):
        crf.decode(torch.randn(2, 4, 5))
    with pytest.raises(ValueError, match="BIO"):
        CRF.for_bio(["O", "PER"])
    # a padded position may hold any tag, even an out-of-range one
    crf.loss(e, torch.tensor([[0, 1, 2, 9], [0, 0, 0, 0]]), torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]]))
