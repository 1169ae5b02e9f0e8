"""The pieces notebook 14 (capstone) adds to helpers.pretraining: packing documents into MLM blocks,
the mini-BERT with its pretraining heads (the same model as notebook 06 builds, so its checkpoints
load), and moving a pretrained encoder into a classifier."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers.encoder import Encoder, EncoderConfig
from helpers.finetuning import SequenceClassifier
from helpers.pretraining import (IGNORE_INDEX, MiniBertForPreTraining, load_checkpoint, mask_tokens,
                                 pack_documents, save_checkpoint, transfer_encoder)

ROOT = Path(__file__).resolve().parents[1]
CLS, SEP, MASK = 101, 102, 103


def config(layers=2, vocab=200):
    return EncoderConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=layers, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=16, dropout=0.0)


def test_packing_keeps_every_token_in_order_with_separators():
    docs = [[1, 2, 3], [4, 5], [6, 7, 8, 9]]
    blocks = pack_documents(docs, 4, CLS, SEP)
    assert blocks.dtype == torch.long and blocks.shape == (4, 4)
    assert (blocks[:, 0] == CLS).all()
    assert blocks[:, 1:].flatten().tolist() == [1, 2, 3, SEP, 4, 5, SEP, 6, 7, 8, 9, SEP]
    # an incomplete last piece is dropped, nothing else
    assert pack_documents(docs, 5, CLS, SEP)[:, 1:].flatten().tolist() == [1, 2, 3, SEP, 4, 5, SEP, 6, 7, 8, 9, SEP]
    assert pack_documents(docs, 6, CLS, SEP).shape == (2, 6)


def test_packing_refuses_what_cannot_make_a_block():
    with pytest.raises(ValueError, match="block_size must be a whole number >= 2"):
        pack_documents([[1, 2]], 1, CLS, SEP)
    with pytest.raises(ValueError, match="fewer than one block"):
        pack_documents([[1, 2]], 16, CLS, SEP)


def test_pretraining_model_with_and_without_nsp():
    torch.manual_seed(0)
    ids = torch.randint(110, 200, (3, 12))
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = True
    x, y = mask_tokens(ids, MASK, 200, special, mlm_probability=0.5, generator=torch.Generator().manual_seed(0))
    seg, att = torch.zeros_like(x), torch.ones_like(x)
    with_nsp = MiniBertForPreTraining(config())
    mlm, nsp, mlm_logits, nsp_logits = with_nsp(x, seg, att, y, torch.tensor([0, 1, 0]))
    assert mlm_logits.shape == ((y != IGNORE_INDEX).sum().item(), 200) and nsp_logits.shape == (3, 2)
    assert mlm.item() == pytest.approx(F.cross_entropy(mlm_logits, y[y != IGNORE_INDEX]).item())
    assert nsp.item() > 0
    mlm_only = MiniBertForPreTraining(config(), nsp=False)
    mlm, nsp, _, nsp_logits = mlm_only(x, seg, att, y)
    assert nsp is None and nsp_logits is None and mlm.item() > 0
    assert not any(k.startswith(("pooler", "nsp")) for k in mlm_only.state_dict())
    with pytest.raises(ValueError, match="no NSP head"):
        mlm_only(x, seg, att, y, torch.tensor([0, 1, 0]))
    mlm.backward()  # the decoder is tied to the input embeddings: they get the MLM gradient
    assert mlm_only.bert.embeddings.word_embeddings.weight.grad.abs().sum() > 0
    assert mlm_only.fill_in(ids, att, k=4).shape == (3, 12, 4)


def notebook_06_class():
    """The MiniBertForPreTraining that notebook 06 writes out, to teach it, compiled from its cell."""
    nb = nbformat.read(ROOT / "notebooks" / "06_bert_pretraining.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "class MiniBertForPreTraining" in cell.source:
            tree = ast.parse(cell.source)
            node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "MiniBertForPreTraining")
            namespace = {"nn": nn, "torch": torch, "F": F, "Encoder": Encoder, "EncoderConfig": EncoderConfig,
                         "IGNORE_INDEX": IGNORE_INDEX}
            exec(compile(ast.Module(body=[node], type_ignores=[]), "notebook_06", "exec"), namespace)
            return namespace["MiniBertForPreTraining"]
    raise AssertionError("notebook 06 no longer defines MiniBertForPreTraining in a code cell")


def test_the_helper_is_notebook_06s_model(tmp_path):
    Notebook06 = notebook_06_class()
    torch.manual_seed(0)
    theirs = Notebook06(config())
    ours = MiniBertForPreTraining(config())
    want = {k: v.shape for k, v in theirs.state_dict().items()}
    assert {k: v.shape for k, v in ours.state_dict().items()} == want
    # a checkpoint written by notebook 06's training loop loads into the helper, config checked
    path = save_checkpoint(tmp_path / "mini_bert.safetensors", theirs, step=3)
    assert load_checkpoint(path, ours, restore_rng=False)["step"] == 3
    ids = torch.randint(110, 200, (2, 10))
    x, y = mask_tokens(ids, MASK, 200, generator=torch.Generator().manual_seed(1))
    batch = (x, torch.zeros_like(x), torch.ones_like(x), y, torch.tensor([1, 0]))
    theirs.eval(), ours.eval()
    for a, b in zip(theirs(*batch), ours(*batch)):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(theirs.fill_in(ids, torch.ones_like(ids)), ours.fill_in(ids, torch.ones_like(ids)))


def test_transfer_encoder_moves_the_encoder_and_leaves_the_head():
    torch.manual_seed(0)
    pretrainer = MiniBertForPreTraining(config())
    clf = SequenceClassifier(Encoder(config()), num_labels=2)
    head = clf.head.weight.detach().clone()
    assert transfer_encoder(pretrainer.state_dict(), clf) == ["head.bias", "head.weight"]
    for k, v in pretrainer.bert.state_dict().items():
        assert torch.equal(clf.encoder.state_dict()[k], v), k
    assert torch.equal(clf.head.weight, head)
    ids = torch.randint(110, 200, (2, 10))
    torch.testing.assert_close(clf.encoder(ids), pretrainer.bert(ids))


def test_transfer_encoder_refuses_what_does_not_fit():
    clf = SequenceClassifier(Encoder(config()), num_labels=2)
    with pytest.raises(ValueError, match="get none"):  # one layer for an encoder of two
        transfer_encoder(MiniBertForPreTraining(config(layers=1)).state_dict(), clf)
    with pytest.raises(ValueError, match="0 found under 'bert.'"):  # not a pretraining model's names
        transfer_encoder(clf.state_dict(), SequenceClassifier(Encoder(config()), num_labels=2))
    with pytest.raises(RuntimeError, match="size mismatch"):  # same names, other sizes
        transfer_encoder(MiniBertForPreTraining(config(vocab=300)).state_dict(), clf)
