"""Solutions to the exercises of notebook 10, and typical wrong answers (the tests use both)."""


def spans(tags):
    out, kind, start = [], None, 0
    for i, tag in enumerate(list(tags) + ["O"]):  # a final O closes the last entity
        prefix, _, t = tag.partition("-")
        if kind is not None and (prefix != "I" or t != kind):
            out.append((kind, start, i))
            kind = None
        if prefix == "B" or (prefix == "I" and kind is None):
            kind, start = t, i
    return out


def spans_wrong(tags):
    out, kind, start = [], None, 0
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, _, t = tag.partition("-")
        if kind is not None and prefix != "I":
            out.append((kind, start, i))
            kind = None
        if prefix == "B":  # only B- opens an entity: a stray I- is lost, and I- of another type is absorbed
            kind, start = t, i
    return out


def align(word_labels, word_ids):
    out, previous = [], None
    for w in word_ids:
        out.append(-100 if w is None or w == previous else word_labels[w])
        previous = w
    return out


def align_wrong(word_labels, word_ids):
    return [-100 if w is None else word_labels[w] for w in word_ids]  # every sub-token gets the label


def entity_prf(gold, pred):
    tp = n_gold = n_pred = 0
    for g, p in zip(gold, pred):
        gs, ps = set(spans(g)), set(spans(p))
        tp += len(gs & ps)
        n_gold += len(gs)
        n_pred += len(ps)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def entity_prf_wrong(gold, pred):
    # token level: counts tags, so half an entity earns half a point
    pairs = [(g, p) for gs, ps in zip(gold, pred) for g, p in zip(gs, ps)]
    tp = sum(g == p != "O" for g, p in pairs)
    n_pred = sum(p != "O" for _, p in pairs)
    n_gold = sum(g != "O" for g, _ in pairs)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1




def log_partition(emissions, start, transitions, end):
    import torch

    alpha = start + emissions[0]  # (L,) log-sum of the scores of all prefixes ending in each tag
    for t in range(1, len(emissions)):
        alpha = torch.logsumexp(alpha[:, None] + transitions, dim=0) + emissions[t]
    return torch.logsumexp(alpha + end, dim=0)


def log_partition_wrong(emissions, start, transitions, end):
    import torch

    alpha = start + emissions[0]
    for t in range(1, len(emissions)):
        alpha = (alpha[:, None] + transitions).max(dim=0).values + emissions[t]  # max: Viterbi's score, not Z
    return (alpha + end).max()


SOLUTIONS = {"10.1": spans, "10.2": align, "10.3": entity_prf, "10.4": log_partition}
WRONG = {"10.1": spans_wrong, "10.2": align_wrong, "10.3": entity_prf_wrong, "10.4": log_partition_wrong}


def best_span(start_logits, end_logits, max_tokens):
    import torch

    T = len(start_logits)
    scores = start_logits[:, None] + end_logits[None, :]  # (start, end)
    i = torch.arange(T)
    valid = (i[None, :] >= i[:, None]) & (i[None, :] - i[:, None] < max_tokens)
    flat = int(scores.masked_fill(~valid, float("-inf")).flatten().argmax())
    return divmod(flat, T)


def best_span_wrong(start_logits, end_logits, max_tokens):
    return int(start_logits.argmax()), int(end_logits.argmax())  # each on its own: may end before it starts


SOLUTIONS["10.5"] = best_span
WRONG["10.5"] = best_span_wrong


def spans_inclusive_wrong(tags):
    return [(kind, start, end - 1) for kind, start, end in spans(tags)]  # end inclusive


def spans_b_continues_wrong(tags):
    out, kind, start = [], None, 0
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, _, t = tag.partition("-")
        if kind is not None and (prefix == "O" or t != kind):  # B- of the same type continues
            out.append((kind, start, i))
            kind = None
        if kind is None and prefix in ("B", "I"):
            kind, start = t, i
    return out


def align_specials_wrong(word_labels, word_ids):
    out, previous = [], None
    for w in word_ids:
        out.append(0 if w is None else -100 if w == previous else word_labels[w])  # specials labelled 0
        previous = w
    return out


def log_partition_no_ends_wrong(emissions, start, transitions, end):
    import torch

    alpha = emissions[0]  # start scores forgotten
    for t in range(1, len(emissions)):
        alpha = torch.logsumexp(alpha[:, None] + transitions, dim=0) + emissions[t]
    return torch.logsumexp(alpha, dim=0)  # end scores forgotten


def log_partition_exp_wrong(emissions, start, transitions, end):
    alpha = (start + emissions[0]).exp()  # probabilities instead of logs: overflows for large scores
    for t in range(1, len(emissions)):
        alpha = (alpha[:, None] * transitions.exp()).sum(0) * emissions[t].exp()
    return (alpha * end.exp()).sum().log()


def best_span_too_long_wrong(start_logits, end_logits, max_tokens):
    import torch

    T = len(start_logits)
    scores = start_logits[:, None] + end_logits[None, :]
    i = torch.arange(T)
    valid = (i[None, :] >= i[:, None]) & (i[None, :] - i[:, None] <= max_tokens)  # one token too many
    return divmod(int(scores.masked_fill(~valid, float("-inf")).flatten().argmax()), T)


def best_span_no_limit_wrong(start_logits, end_logits, max_tokens):
    import torch

    T = len(start_logits)
    scores = start_logits[:, None] + end_logits[None, :]
    i = torch.arange(T)
    valid = i[None, :] >= i[:, None]  # any length
    return divmod(int(scores.masked_fill(~valid, float("-inf")).flatten().argmax()), T)


def entity_prf_start_only_wrong(gold, pred):
    tp = n_gold = n_pred = 0
    for g, p in zip(gold, pred):
        gs, ps = {s[:2] for s in spans(g)}, {s[:2] for s in spans(p)}  # (type, start): the end is not compared
        tp, n_gold, n_pred = tp + len(gs & ps), n_gold + len(gs), n_pred + len(ps)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    return precision, recall, 2 * precision * recall / (precision + recall) if precision + recall else 0.0


WRONG["10.3"] = [entity_prf_wrong, entity_prf_start_only_wrong]
WRONG["10.1"] = [spans_wrong, spans_inclusive_wrong, spans_b_continues_wrong]
WRONG["10.2"] = [align_wrong, align_specials_wrong]
WRONG["10.4"] = [log_partition_wrong, log_partition_no_ends_wrong, log_partition_exp_wrong]
WRONG["10.5"] = [best_span_wrong, best_span_too_long_wrong, best_span_no_limit_wrong]
def average_precision(scores, labels):
    import numpy as np

    ranked = np.asarray(labels)[np.argsort(-np.asarray(scores, dtype=float), kind="stable")]  # best first
    if ranked.sum() == 0:
        return 0.0
    precision = np.cumsum(ranked) / np.arange(1, len(ranked) + 1)  # precision of the first k, for every k
    return float(precision[ranked == 1].mean())  # averaged at the relevant items only


def average_precision_wrong(scores, labels):
    import numpy as np

    ranked = np.asarray(labels)[np.argsort(-np.asarray(scores, dtype=float), kind="stable")]
    return float((np.cumsum(ranked) / np.arange(1, len(ranked) + 1)).mean())  # averaged at every rank


SOLUTIONS["10.6"] = average_precision


def average_precision_lowest_first_wrong(scores, labels):
    return average_precision([-float(s) for s in scores], labels)  # the lowest score ranked first


WRONG["10.6"] = [average_precision_wrong, average_precision_lowest_first_wrong]
