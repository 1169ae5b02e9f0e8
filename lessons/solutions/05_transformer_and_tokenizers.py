"""Solutions to the exercises of notebook 05, and typical wrong answers (the tests use both)."""


def merge(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == tuple(pair):
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def merge_wrong(ids, pair, new_id):
    out = list(ids)
    for i in range(len(out) - 1):  # merges only the first occurrence
        if (out[i], out[i + 1]) == tuple(pair):
            return out[:i] + [new_id] + out[i + 2:]
    return out


def mean_pool(hidden, attention_mask):
    m = attention_mask.to(hidden.dtype).unsqueeze(-1)  # (batch, tokens, 1)
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)


def mean_pool_wrong(hidden, attention_mask):
    return hidden.mean(dim=1)  # averages the padding too


SOLUTIONS = {"05.1": merge, "05.2": mean_pool}
WRONG = {"05.1": merge_wrong, "05.2": mean_pool_wrong}
