"""DPO (helpers.preference): the loss written out agrees with trl's DPOTrainer on the same batch,
identical pairs are dropped and counted, and a few steps through the one loop raise the reward margin."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch

from helpers import instruct, preference
from helpers.batches import random_batches
from helpers.training import TrainConfig, train
from helpers.validation import ArgumentValueError, ShapeError


@pytest.fixture(scope="module")
def smol():
    from helpers.llama import load_smollm2

    torch.manual_seed(0)
    _, hf, tok = load_smollm2(block_size=256, tiny=True)
    return hf, tok


PROMPTS = ["Write a one-line review of a film.", "Review the last movie you saw.", "Say what you thought of it.",
           "A short film review, please."]
GOOD = ["A wonderful, moving film.", "Great fun from start to end!", "I loved it.", "Brilliant acting."]
BAD = ["Dull and far too long.", "A waste of an evening.", "I hated it, sadly.", "Awful."]


def test_pairs_drop_identical_and_tied_responses():
    pairs, dropped = preference.preference_pairs(PROMPTS, GOOD[:2] + ["same", "x"], BAD[:2] + [" same ", "y"],
                                                 [0.9, 0.1, 0.5, 0.5], [0.2, 0.8, 0.1, 0.5])
    assert dropped == {"identical": 1, "tied": 1}
    assert [p.chosen for p in pairs] == [GOOD[0], BAD[1]]  # the judge's higher score is chosen
    assert pairs[1].margin == pytest.approx(0.7)
    with pytest.raises(ShapeError, match="scores_b"):
        preference.preference_pairs(PROMPTS, GOOD, BAD, [1] * 4, [0] * 3)
    with pytest.raises(ArgumentValueError, match="pairs is empty"):
        preference.encode_pairs(None, [])


def test_best_and_worst_of_several_replies():
    replies = [GOOD[:3], ["same", "same "], [BAD[0], GOOD[3], BAD[1]]]
    scores = [[0.6, 0.9, 0.2], [0.4, 0.7], [0.3, 0.8, 0.1]]
    pairs, dropped = preference.best_and_worst_pairs(PROMPTS[:3], replies, scores)
    assert dropped == {"identical": 1, "tied": 0}  # the second prompt's replies are the same text
    assert [(p.chosen, p.rejected) for p in pairs] == [(GOOD[1], GOOD[2]), (GOOD[3], BAD[1])]
    assert pairs[1].margin == pytest.approx(0.7)  # the widest margin of the three replies
    with pytest.raises(ShapeError, match="prompt 0 has 1 replies"):
        preference.best_and_worst_pairs(PROMPTS[:1], [["only one"]], [[0.5]])
    with pytest.raises(ShapeError, match="scores has 1 lists"):
        preference.best_and_worst_pairs(PROMPTS[:2], replies[:2], scores[:1])


def test_dpo_loss_by_hand():
    pc, pr, rc, rr = (torch.tensor([v]) for v in (-3.0, -5.0, -4.0, -4.0))
    loss, chosen, rejected = preference.dpo_loss(pc, pr, rc, rr, beta=0.5)
    assert chosen.item() == pytest.approx(0.5) and rejected.item() == pytest.approx(-0.5)
    assert loss.item() == pytest.approx(-torch.nn.functional.logsigmoid(torch.tensor(1.0)).item())
    with pytest.raises(ArgumentValueError, match="beta"):
        preference.dpo_loss(pc, pr, rc, rr, beta=0)


def test_dpo_loss_matches_trl_dpo_trainer(smol, tmp_path):
    """The same pairs, the same tiny LoRA model (reference: adapters off): the course's loss and
    trl's DPOTrainer's (sigmoid loss, beta 0.1) agree. (trl's own default for a model that already has
    adapters is a copy of them as the reference; we hand it the base model, the course's reference.)"""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    hf, tok = smol
    torch.manual_seed(1)
    model = instruct.add_causal_lora(copy.deepcopy(hf), r=4, dropout=0.0)
    with torch.no_grad():  # move the adapters off zero so that policy and reference differ
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    pairs, _ = preference.preference_pairs(PROMPTS, GOOD, BAD, [1.0] * 4, [0.0] * 4)
    batch = preference.encode_pairs(tok, pairs)
    model.eval()
    ours, _ = preference.dpo_step(beta=0.1)(model, batch)

    ds = Dataset.from_list([{"prompt": p.prompt, "chosen": [{"role": "assistant", "content": p.chosen}],
                             "rejected": [{"role": "assistant", "content": p.rejected}]} for p in pairs])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = DPOTrainer(model=model, ref_model=copy.deepcopy(hf).eval(), args=DPOConfig(output_dir=str(tmp_path), report_to=[], beta=0.1,
                                                         use_cpu=True, max_length=None),
                             train_dataset=ds, processing_class=tok)
        inputs = trainer.data_collator([trainer.train_dataset[i] for i in range(len(pairs))])
        trainer.model.eval()
        with torch.no_grad():
            theirs = trainer.compute_loss(trainer.model, inputs)
    assert abs(ours.item() - theirs.item()) < 1e-4, (ours.item(), theirs.item())
    assert abs(ours.item() - 0.6931) > 1e-3  # not the trivial log 2 of a policy equal to its reference


def test_dpo_through_the_one_loop_raises_the_margin(smol):
    hf, tok = smol
    torch.manual_seed(0)
    model = instruct.add_causal_lora(copy.deepcopy(hf), r=8, target_modules=("q_proj", "v_proj", "o_proj"))
    pairs, _ = preference.preference_pairs(PROMPTS, GOOD, BAD, [1.0] * 4, [0.0] * 4)
    batch = preference.add_reference_logps(model, preference.encode_pairs(tok, pairs))
    assert torch.allclose(batch[3], preference.pair_logps(model, batch), atol=1e-5)  # adapters start at zero
    cfg = TrainConfig(max_iters=8, batch_size=4, learning_rate=5e-2, min_lr=5e-3, warmup_iters=1,
                      weight_decay=0.0, eval_interval=0, eval_iters=1)
    history = train(model, random_batches({"train": batch, "val": batch}, 4, "cpu"), cfg,
                    step_fn=preference.dpo_step(beta=0.1))
    loss, parts = preference.dpo_step(beta=0.1)(model.eval(), batch)
    assert loss.item() < 0.69 and parts["reward_margin"].item() > 0, (loss.item(), parts)
    ids, mask, labels = preference.chosen_only_batch(batch)
    assert preference.kl_from_reference(model, ids, mask, labels) != 0
    assert history["step"][-1] == 8
