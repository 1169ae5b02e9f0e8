"""Checks for notebook 14 (capstone: pretrain your own mini-BERT, fine-tune it, compare)."""

import torch

from . import CheckFailed, Mistake, blame, exercise, expect_close


def _tiny_config(layers: int = 2):
    from helpers.encoder import EncoderConfig

    return EncoderConfig(vocab_size=60, hidden_size=16, num_hidden_layers=layers, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=16, dropout=0.0)


def _models(seed: int, pretraining_layers: int = 2):
    """A pretraining model (encoder 'bert.' + MLM and NSP heads) and a fresh classifier ('encoder.' + 'head.')."""
    from helpers.encoder import Encoder
    from helpers.finetuning import SequenceClassifier
    from helpers.pretraining import MiniBertForPreTraining

    torch.manual_seed(seed)
    pretrainer = MiniBertForPreTraining(_tiny_config(pretraining_layers), nsp=True)
    with torch.no_grad():  # make every pretrained weight differ from any fresh initialisation
        for p in pretrainer.parameters():
            p.add_(torch.randn_like(p))
    torch.manual_seed(seed + 1)
    return pretrainer, SequenceClassifier(Encoder(_tiny_config()), num_labels=2)


TRANSFER_MISTAKES = [
    Mistake("names not matched", "The pretraining model names its encoder 'bert.' and the classifier names it "
            "'encoder.'; load_state_dict(strict=False) silently skips every key whose name does not match, so "
            "nothing was loaded. Rename the keys."),
    Mistake("part of the encoder left behind", "Every key under 'bert.' belongs to the encoder, the embeddings "
            "included."),
    Mistake("a mismatch loaded silently", "Given the weights of a model with another architecture, your function "
            "loaded them half-way without an error: raise one when an encoder weight finds no pretrained value."),
]


@exercise("14.1", "moving a pretrained encoder into a classifier", mistakes=TRANSFER_MISTAKES, hint=(
    "Keep the entries of the pretraining state whose names start with the pretraining model's encoder prefix, "
    "rename that prefix to the classifier's, and load the result without requiring every key. The keys the "
    "classifier still misses must be exactly its head's; anything else means the checkpoint does not fit."))
def transfer(answer) -> None:
    pretrainer, clf = _models(seed=0)
    state = {k: v.clone() for k, v in pretrainer.state_dict().items()}
    head = {k: v.clone() for k, v in clf.head.state_dict().items()}
    got = answer(state, clf)
    want_enc = pretrainer.bert.state_dict()
    unchanged = [k for k, v in clf.encoder.state_dict().items() if not torch.equal(v, want_enc[k])]
    tried = "a tiny pretraining model (2 layers, hidden size 16) and a fresh classifier of the same shape"
    if len(unchanged) == len(want_enc):
        raise blame("names not matched", f"With {tried}, none of the classifier's encoder weights changed.")
    if unchanged:
        raise blame("part of the encoder left behind", f"With {tried}, {len(unchanged)} of the encoder's "
                    f"{len(want_enc)} weights did not receive their pretrained value, e.g. encoder.{unchanged[0]}.")
    for k, v in clf.head.state_dict().items():
        expect_close(v, head[k], f"head.{k}", atol=0,
                     hint="The classification head is new: the pretraining model has no such weights "
                          "(its MLM and NSP heads are left behind), so leave it as initialised.")
    if got is None or sorted(got) != ["head.bias", "head.weight"]:
        raise CheckFailed(f"return the names of the classifier's weights that kept their initialisation: "
                          f"['head.bias', 'head.weight'] here; got {got!r}. load_state_dict(..., strict=False) "
                          "returns them as .missing_keys.")
    for k, v in state.items():
        expect_close(v, pretrainer.state_dict()[k], f"the pretraining state {k}", atol=0,
                     hint="Do not modify the pretraining state dict you were given.")

    # a checkpoint of another architecture must not load half-way without a word
    other, clf = _models(seed=2, pretraining_layers=1)
    try:
        got = answer(other.state_dict(), clf)
    except CheckFailed:
        raise
    except Exception:
        return  # refused: good
    raise blame("a mismatch loaded silently",
                "Given the state of a pretraining model with 1 layer, your function loaded it into a classifier "
                f"with 2 layers without an error (it returned {got!r}): layer 1 of the encoder would stay random.")


def _pack_cases():
    g = torch.Generator().manual_seed(0)
    docs = [torch.randint(1000, 2000, (int(n),), generator=g).tolist()
            for n in torch.randint(1, 40, (30,), generator=g)]
    return [(docs, 64), (docs, 8), (docs, 2), ([[5, 6, 7], [8, 9]], 4), ([[5, 6, 7], [8]], 3)]


PACK_MISTAKES = [
    Mistake("no [SEP] between documents", "Put a [SEP] after every document, so that the model sees where one "
            "review ends and the next begins."),
    Mistake("blocks one token too long", "Each block is [CLS] followed by block_size - 1 tokens of the stream, "
            "block_size in all."),
    Mistake("the last piece kept", "Only full blocks are kept: drop the last, incomplete piece of the stream "
            "(padding it would waste compute on [PAD])."),
]


@exercise("14.2", "packing documents into full MLM blocks", mistakes=PACK_MISTAKES, hint=(
    "Join the documents into one stream, each followed by [SEP]. Cut the stream into consecutive pieces of "
    "block_size - 1 tokens, drop an incomplete last piece, and put [CLS] in front of each piece."))
def packing(answer) -> None:
    from helpers.pretraining import pack_documents

    cls_id, sep_id = 101, 102
    for docs, block in _pack_cases():
        want = pack_documents(docs, block, cls_id, sep_id)
        got = answer([list(d) for d in docs], block, cls_id, sep_id)
        setting = f"{len(docs)} documents of {sum(map(len, docs))} tokens, block_size={block}"
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(f"return a tensor of shape (n_blocks, block_size), got {type(got).__name__}.")
        if got.dim() == 2 and got.size(1) == block + 1:
            raise blame("blocks one token too long", f"For {setting} your blocks have shape {tuple(got.shape)}.")
        if got.dim() != 2 or got.size(1) != block:
            raise CheckFailed(f"for {setting}: every block must have block_size = {block} tokens, got shape "
                              f"{tuple(got.shape)}. A block is [CLS] followed by block_size - 1 tokens of the stream.")
        if not bool((got[:, 0] == cls_id).all()):
            raise CheckFailed(f"for {setting}: every block must start with [CLS] (id {cls_id}).")
        n_sep_got, n_sep_want = int((got == sep_id).sum()), int((want == sep_id).sum())
        if n_sep_got < n_sep_want:
            raise blame("no [SEP] between documents", f"For {setting}: your blocks hold {n_sep_got} [SEP] tokens, "
                                                      f"the reference {n_sep_want}.")
        if got.size(0) == want.size(0) + 1 and torch.equal(got[:-1], want):
            raise blame("the last piece kept", f"For {setting}: expected {want.size(0)} blocks, got {got.size(0)}.")
        if got.size(0) != want.size(0):
            raise CheckFailed(f"for {setting}: expected {want.size(0)} blocks, got {got.size(0)}. The stream "
                              "(each document followed by [SEP]) is cut into pieces of block_size - 1 tokens; "
                              "only the last, incomplete piece is dropped, and no token is skipped.")
        expect_close(got, want, f"the blocks for {setting}", atol=0,
                     hint="Keep the documents in order: the stream is doc 1, [SEP], doc 2, [SEP], ...; "
                          "block i is [CLS] + stream[i * (block_size - 1) : (i + 1) * (block_size - 1)].")
