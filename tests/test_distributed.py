"""The one loop on two CPU processes (torchrun, gloo): the same losses as one process with the same
global batch, for GPT pretraining and for fine-tuning; exact resume on two processes and on one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ddp_scenarios as sc
from helpers import distributed as dist

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """Every scenario of tests/ddp_scenarios.py, run once by torchrun on 2 processes."""
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(ROOT / "tests" / "ddp_scenarios.py"), str(out)],
                         env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    return out, json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def one_process():
    return sc.gpt_run()


def test_two_processes_give_the_losses_of_one(two_processes, one_process):
    _, two = two_processes
    assert two["world_size"] == 2
    one = one_process
    assert two["gpt"] == pytest.approx(one["loss"], abs=1e-5)
    assert two["gpt_val"] == pytest.approx(one["val"], abs=1e-5)
    ft = sc.fine_tune_run()
    assert two["fine_tune"]["train_loss"] == pytest.approx(ft["train_loss"], abs=1e-5)
    assert two["fine_tune"]["val_accuracy"] == ft["val_accuracy"]


def test_an_interrupted_two_process_run_resumes_exactly(two_processes, one_process):
    out, two = two_processes
    assert two["dropout_interrupted_at"] == 4  # Ctrl-C in step 5; the checkpoint of step 4 stays
    assert two["dropout_resumed"] == two["dropout_whole"]  # each process gets its own dropout stream back
    # a checkpoint of a 2-process run resumes on 1 process (no dropout: the same maths)
    resumed = sc.gpt_run(out / "for_one_process.safetensors")
    assert resumed["loss"] == pytest.approx(one_process["loss"], abs=1e-5)


def test_shares_of_a_global_batch():
    batch = (torch.arange(12).view(6, 2), torch.arange(6), "not sharded")
    pieces = dist.my_pieces(batch, accum=3)  # one process: three micro-batches of 2
    assert [p[1].tolist() for p, _ in pieces] == [[0, 1], [2, 3], [4, 5]]
    assert [w for _, w in pieces] == pytest.approx([1 / 3] * 3) and pieces[0][0][2] == "not sharded"
    uneven = dist.my_pieces((torch.arange(5),), accum=2)  # a short last batch: weights by size
    assert [len(p[0]) for p, _ in uneven] == [2, 3] and [w for _, w in uneven] == pytest.approx([0.4, 0.6])


def test_scaling_benchmark_writes_its_figures(tmp_path):
    out = tmp_path / "scaling.json"
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "scaling.py"), "--quick", "--steps", "3",
                          "--out", str(out)], capture_output=True, text=True, timeout=240,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["processes"] == [1, 2] and len(result["tokens_per_s"]) == 2
    assert min(result["tokens_per_s"]) > 0 and result["loss_max_abs_diff"] < 1e-5


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a CUDA machine `make gpu-check` runs for real")
def test_gpu_check_skips_cleanly_without_cuda(tmp_path, capsys):
    sys.path.insert(0, str(ROOT))
    from tools.gpu_check import main

    assert main(["--out", str(tmp_path / "gpu.json")]) == 0
    assert "no CUDA device" in capsys.readouterr().out and not (tmp_path / "gpu.json").exists()
