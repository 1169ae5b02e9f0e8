"""The benchmarks of the heads on a pretrained encoder (tagging, QA, smaller-and-faster classification)
run end to end on a tiny budget and write the keys the issue names. Their numbers come from full runs."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_heads_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_tagging_benchmark(tmp_path):
    out = tmp_path / "tagging.json"
    load("tagging").main(["--quick", "--threads", "1", "--out", str(out)])
    result = json.loads(out.read_text())
    for name in ("softmax", "crf"):
        assert {"entity_f1", "invalid_transitions"} <= set(result[name])
        assert 0 <= result[name]["entity_f1"] <= 1
    assert result["crf"]["invalid_transitions"] == 0  # constrained Viterbi, whatever the training


@pytest.mark.slow
def test_qa_benchmark(tmp_path):
    out = tmp_path / "qa.json"
    load("qa").main(["--quick", "--threads", "1", "--out", str(out)])
    cloze = json.loads(out.read_text())["cloze"]
    assert {"exact_match", "f1", "baseline"} <= set(cloze)
    assert {"exact_match", "f1"} <= set(cloze["baseline"]) and cloze["baseline"]["f1"] > 10
    assert all(n > 0 for n in cloze["questions"].values())
    selection = json.loads(out.read_text())["sentence_selection"]
    assert {"map", "p_at_3", "baselines"} <= set(selection)
    assert set(selection["baselines"]) == {"lead", "tfidf"}
    for r in (selection, *selection["baselines"].values()):
        assert 0 <= r["map"] <= 1 and 0 <= r["p_at_3"] <= 1


@pytest.mark.slow
def test_finetuning_benchmark_smaller_and_faster_rows(tmp_path):
    out = tmp_path / "finetuning.json"
    load("finetuning").main(["--quick", "--threads", "1", "--ways", "full,distilled,quantized", "--out", str(out)])
    result = json.loads(out.read_text())
    for way in ("distilled", "hard_labels", "quantized", "full"):
        assert {"accuracy", "parameters", "ms_per_sentence", "megabytes"} <= set(result[way])
    assert result["full"]["parameters"] >= 4 * result["distilled"]["parameters"]
    assert result["quantized"]["megabytes"] < result["full"]["megabytes"]
