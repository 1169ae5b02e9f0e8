"""Solutions to the exercises of notebook 14, and typical wrong answers (the tests use both)."""

import torch


def transfer(pretraining_state, classifier):
    state = {"encoder." + k.removeprefix("bert."): v for k, v in pretraining_state.items()
             if k.startswith("bert.")}
    result = classifier.load_state_dict(state, strict=False)
    not_loaded = [k for k in result.missing_keys if k.startswith("encoder.")]
    if not_loaded or result.unexpected_keys:
        raise ValueError(f"the pretrained encoder does not fit the classifier: no value for {not_loaded[:3]}, "
                         f"no place for {result.unexpected_keys[:3]}")
    return sorted(result.missing_keys)  # the new head


def transfer_wrong(pretraining_state, classifier):
    # the names differ ('bert.' vs 'encoder.'), so strict=False loads nothing and says nothing
    result = classifier.load_state_dict(pretraining_state, strict=False)
    return sorted(k for k in result.missing_keys if k.startswith("head."))


def pack(documents, block_size, cls_id, sep_id):
    stream = [t for doc in documents for t in doc + [sep_id]]
    piece = block_size - 1
    return torch.tensor([[cls_id] + stream[i:i + piece] for i in range(0, len(stream) - piece + 1, piece)],
                        dtype=torch.long).reshape(-1, block_size)


def pack_wrong(documents, block_size, cls_id, sep_id):
    stream = [t for doc in documents for t in doc]  # forgets the [SEP] between documents
    piece = block_size - 1
    return torch.tensor([[cls_id] + stream[i:i + piece] for i in range(0, len(stream) - piece + 1, piece)],
                        dtype=torch.long).reshape(-1, block_size)


SOLUTIONS = {"14.1": transfer, "14.2": pack}
WRONG = {"14.1": transfer_wrong, "14.2": pack_wrong}


def transfer_layers_only_wrong(pretraining_state, classifier):
    state = {"encoder." + k.removeprefix("bert."): v for k, v in pretraining_state.items()
             if k.startswith("bert.layers.")}  # the embeddings are left behind
    return sorted(k for k in classifier.load_state_dict(state, strict=False).missing_keys if k.startswith("head."))


def transfer_silent_wrong(pretraining_state, classifier):
    state = {"encoder." + k.removeprefix("bert."): v for k, v in pretraining_state.items() if k.startswith("bert.")}
    result = classifier.load_state_dict(state, strict=False)  # never complains about a mismatch
    return sorted(k for k in result.missing_keys if k.startswith("head."))


def pack_too_long_wrong(documents, block_size, cls_id, sep_id):
    stream = [t for doc in documents for t in doc + [sep_id]]
    return torch.tensor([[cls_id] + stream[i:i + block_size] for i in range(0, len(stream) - block_size + 1,
                                                                               block_size)],
                        dtype=torch.long).reshape(-1, block_size + 1)  # [CLS] + block_size tokens


def pack_keep_last_wrong(documents, block_size, cls_id, sep_id):
    stream = [t for doc in documents for t in doc + [sep_id]]
    piece = block_size - 1
    rows = [[cls_id] + stream[i:i + piece] for i in range(0, len(stream), piece)]
    rows[-1] += [0] * (block_size - len(rows[-1]))  # the incomplete last piece, padded
    return torch.tensor(rows, dtype=torch.long)


WRONG["14.1"] = [transfer_wrong, transfer_layers_only_wrong, transfer_silent_wrong]
WRONG["14.2"] = [pack_wrong, pack_too_long_wrong, pack_keep_last_wrong]
