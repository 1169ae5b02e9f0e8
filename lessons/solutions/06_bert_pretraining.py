"""Solutions to the exercises of notebook 06, and typical wrong answers (the tests use both)."""

import random

import torch


def mask_tokens(input_ids, mask_token_id, vocab_size, special_mask, generator):
    labels = input_ids.clone()
    chosen = (torch.rand(input_ids.shape, generator=generator) < 0.15) & ~special_mask
    labels[~chosen] = -100
    which = torch.rand(input_ids.shape, generator=generator)  # decides [MASK] / random / kept
    inputs = input_ids.clone()
    inputs[chosen & (which < 0.8)] = mask_token_id
    to_random = chosen & (which >= 0.8) & (which < 0.9)
    inputs[to_random] = torch.randint(vocab_size, input_ids.shape, generator=generator)[to_random]
    return inputs, labels


def mask_tokens_wrong(input_ids, mask_token_id, vocab_size, special_mask, generator):
    labels = input_ids.clone()
    chosen = (torch.rand(input_ids.shape, generator=generator) < 0.15) & ~special_mask
    labels[~chosen] = -100
    inputs = input_ids.clone()
    inputs[chosen] = mask_token_id  # every chosen token becomes [MASK]: no random, none kept
    return inputs, labels


def nsp_pairs(documents, n_pairs, seed):
    rng = random.Random(seed)
    docs = [d for d in documents if len(d) >= 2]
    labels = [0] * (n_pairs // 2) + [1] * (n_pairs - n_pairs // 2)
    rng.shuffle(labels)
    pairs = []
    for label in labels:
        d = rng.randrange(len(docs))
        i = rng.randrange(len(docs[d]) - 1)
        if label == 0:
            b = docs[d][i + 1]
        else:
            other = rng.choice([j for j in range(len(docs)) if j != d])
            b = rng.choice(docs[other])
        pairs.append((docs[d][i], b, label))
    return pairs


def nsp_pairs_wrong(documents, n_pairs, seed):
    rng = random.Random(seed)
    pairs = []
    for _ in range(n_pairs):
        d = rng.randrange(len(documents))
        i = rng.randrange(len(documents[d]) - 1)
        if rng.random() < 0.5:
            pairs.append((documents[d][i], documents[d][i + 1], 0))
        else:
            pairs.append((documents[d][i], rng.choice(documents[d]), 1))  # same document: not a negative
    return pairs


SOLUTIONS = {"06.1": mask_tokens, "06.2": nsp_pairs}
WRONG = {"06.1": mask_tokens_wrong, "06.2": nsp_pairs_wrong}


def mask_tokens_specials_wrong(input_ids, mask_token_id, vocab_size, special_mask, generator):
    return mask_tokens(input_ids, mask_token_id, vocab_size, torch.zeros_like(special_mask), generator)  # specials too


def mask_tokens_all_labels_wrong(input_ids, mask_token_id, vocab_size, special_mask, generator):
    inputs, _ = mask_tokens(input_ids, mask_token_id, vocab_size, special_mask, generator)
    return inputs, input_ids.clone()  # every position labelled: the loss also trains on unmasked tokens


def nsp_pairs_swapped_wrong(documents, n_pairs, seed):
    return [(a, b, 1 - label) for a, b, label in nsp_pairs(documents, n_pairs, seed)]  # 1 for IsNext


def nsp_pairs_coin_wrong(documents, n_pairs, seed):
    rng = random.Random(seed)
    docs = [d for d in documents if len(d) >= 2]
    pairs = []
    for _ in range(n_pairs):  # a coin per pair: about half, not exactly
        d = rng.randrange(len(docs))
        i = rng.randrange(len(docs[d]) - 1)
        if rng.random() < 0.5:
            pairs.append((docs[d][i], docs[d][i + 1], 0))
        else:
            pairs.append((docs[d][i], rng.choice(docs[rng.choice([j for j in range(len(docs)) if j != d])]), 1))
    return pairs


WRONG["06.1"] = [mask_tokens_wrong, mask_tokens_specials_wrong, mask_tokens_all_labels_wrong]
WRONG["06.2"] = [nsp_pairs_wrong, nsp_pairs_swapped_wrong, nsp_pairs_coin_wrong]
