"""Short trainings that tests/test_distributed.py runs in one process and, through torchrun, in two.

    torchrun --standalone --nproc_per_node 2 tests/ddp_scenarios.py OUT_DIR

writes OUT_DIR/results.json (rank 0) with the histories of every scenario, and the checkpoints.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from helpers.data import LabelledTexts
from helpers.encoder import Encoder, EncoderConfig
from helpers.pretraining import CharVocab, causal_lm_batch
from helpers.training import TrainConfig, train
from helpers.transformer import GPT, GPTConfig

TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 40)
GPT_CFG = TrainConfig(max_iters=8, batch_size=8, warmup_iters=2, eval_interval=4, eval_iters=2, ckpt_interval=2)


def tiny_gpt(dropout=0.0):
    vocab = CharVocab(TEXT)
    data = torch.tensor(vocab.encode(TEXT))
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=len(vocab), block_size=16, n_layer=1, n_head=2, n_embd=32, dropout=dropout))
    return model, lambda split, g: causal_lm_batch(data, 16, 8, g)


def gpt_run(ckpt=None, dropout=0.0, interrupt_at=None):
    """GPT pretraining, 8 steps of a global batch of 8; ``interrupt_at``: a Ctrl-C in that step."""
    model, get_batch = tiny_gpt(dropout)
    calls = {"n": 0}

    def batches(split, g):
        calls["n"] += split == "train"
        if calls["n"] == interrupt_at:
            raise KeyboardInterrupt
        return get_batch(split, g)

    return train(model, batches, GPT_CFG, ckpt_path=ckpt, progress=False)


def fine_tune_run():
    """The course's fine_tune on a planted rule, 2 epochs of batches of 16 over 64 texts."""
    from transformers import AutoTokenizer

    from helpers import data
    from helpers.finetuning import SequenceClassifier, fine_tune

    rng = np.random.default_rng(0)
    words = "the film was a story about people in a town".split()
    labels = rng.integers(2, size=96)
    texts = [" ".join(list(rng.choice(words, 5)) + ["wonderful" if y else "dreadful"]) for y in labels]
    tokenizer = AutoTokenizer.from_pretrained(data.minilm_dir())
    torch.manual_seed(0)
    encoder = Encoder(EncoderConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                    intermediate_size=64, max_position_embeddings=64, dropout=0.0))
    model = SequenceClassifier(encoder, num_labels=2, dropout=0.0)
    h = fine_tune(model, tokenizer, LabelledTexts(texts[:64], labels[:64]), LabelledTexts(texts[64:], labels[64:]),
                  epochs=2, batch_size=16, lr=3e-3, device="cpu")
    return {"train_loss": h.train_loss, "val_accuracy": h.val_accuracy}


def main(out: Path) -> None:
    from helpers import distributed as dist

    out.mkdir(parents=True, exist_ok=True)
    results = {"gpt": gpt_run()["loss"], "world_size": dist.world_size()}
    results["gpt_val"] = gpt_run()["val"]
    results["fine_tune"] = fine_tune_run()
    results["dropout_whole"] = gpt_run(out / "whole.safetensors", dropout=0.1)["loss"]
    part = gpt_run(out / "part.safetensors", dropout=0.1, interrupt_at=7)  # step 7 (2 eval batches at step 4)
    results["dropout_interrupted_at"] = len(part["loss"])
    results["dropout_resumed"] = gpt_run(out / "part.safetensors", dropout=0.1)["loss"]
    gpt_run(out / "for_one_process.safetensors", interrupt_at=7)
    if dist.is_main():
        (out / "results.json").write_text(json.dumps(results))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
