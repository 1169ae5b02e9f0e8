"""The benchmark scripts run end to end on a tiny budget and write the figures they promise.

Their numbers are measured by running them (see each script's docstring), not here; these tests only
check that a script a learner or a reviewer runs does not fail after minutes of work, and that the file it
writes has the keys the issues name.
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("reference", [True, False], ids=["with-reference", "course-only"])
def test_pretraining_benchmark_writes_its_figures(tmp_path, reference):
    out = tmp_path / "pretraining.json"
    args = ["--seconds", "1.5", "--iters", "40", "--eval-interval", "20", "--out", str(out)]
    load("pretraining").main(args + ([] if reference else ["--no-reference"]))
    result = json.loads(out.read_text())
    assert {"tokens_per_s", "steps", "val_loss", "seconds"} <= set(result)
    assert result["tokens_per_s"] > 0 and 0 < result["steps"] <= 40
    # the 1.5 s budget is kept: training stops at the first step that crosses it (on a busy machine one
    # step can take seconds, so the bound is the budget plus about one step, not a fixed time)
    assert result["seconds"] <= 1.5 + 2 * result["seconds"] / result["steps"] + 0.5
    assert ("reference" in result) == reference
    if reference:
        assert result["reference"]["parameters"] == result["parameters"]  # the same network in both rows
        assert result["speed_vs_reference"] == pytest.approx(
            result["tokens_per_s"] / result["reference"]["tokens_per_s"], rel=1e-2)


def test_finetuning_benchmark_probes_write_their_figures(tmp_path):
    out = tmp_path / "finetuning.json"
    load("finetuning").main(["--quick", "--ways", "tfidf,frozen", "--out", str(out)])
    result = json.loads(out.read_text())
    for way in ("tfidf", "frozen"):
        assert {"accuracy", "f1", "trainable_params", "seconds"} <= set(result[way])
        assert 0.4 < result[way]["accuracy"] <= 1
    assert result["frozen"]["trainable_params"] == 384 * 2 + 2  # the head of a SequenceClassifier on MiniLM
    assert result["targets"] == {}  # a quick run is never judged against the targets


def test_seq2seq_benchmark_writes_both_tasks_and_reuses_its_checkpoint(tmp_path):
    out, ckpt = tmp_path / "seq2seq.json", tmp_path / "s2s.safetensors"
    bench = load("seq2seq")
    bench.main(["--quick", "--task", "all", "--checkpoint", str(ckpt), "--out", str(out)])
    result = json.loads(out.read_text())
    tr, sm = result["translation"], result["summarisation"]
    assert {"copy_bleu", "copy_chrf", "bleu", "chrf", "beam_bleu", "train_seconds", "sentences_per_s",
            "length_penalty", "beam_tuning"} <= set(tr)
    assert {"lead_rouge_l", "oracle_rouge_l", "zero_shot_rouge_l", "lora_rouge_l"} <= set(sm)
    assert sm["oracle_rouge_l"] >= sm["lead_rouge_l"] and sm["lora_rouge_l"] is not None
    assert ckpt.exists() and "goals" not in result  # a quick run is never judged
    again = bench.main(["--quick", "--task", "translation", "--checkpoint", str(ckpt), "--out", str(out)])
    assert again["translation"]["train_steps"] == tr["train_steps"]  # loaded, not trained again
    assert again["translation"]["bleu"] == pytest.approx(tr["bleu"])


def test_posttraining_benchmark_writes_the_keys_of_issue_16(tmp_path):
    out = tmp_path / "posttraining.json"
    load("posttraining").main(["--quick", "--threads", "1", "--out", str(out)])
    result = json.loads(out.read_text())
    assert {"before", "after", "heldout_ppl_before", "heldout_ppl_after"} <= set(result["sft"])
    assert set(result["sft"]["before"]) == {"sentiment", "modernise", "summary", "entities", "continue"}
    keys = {"reward_before", "reward_after", "positive_rate_before", "positive_rate_after", "kl"}
    assert keys <= set(result["dpo"]) and keys <= set(result["sft_chosen_only"])
    assert set(result["dpo"]["dropped"]) == {"identical", "tied"}
    assert result["goals"] == {}  # a quick run is never judged against the goals
