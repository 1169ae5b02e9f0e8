import pytest
import torch

from helpers import device


def test_cpu_is_chosen_without_accelerators(monkeypatch):
    monkeypatch.delenv(device.DEVICE_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert device.get_device() == torch.device("cpu")


def test_cuda_comes_before_mps(monkeypatch):
    monkeypatch.delenv(device.DEVICE_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert device.get_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device.get_device() == torch.device("mps")


def test_environment_override(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv(device.DEVICE_ENV, "cpu")
    assert device.get_device() == torch.device("cpu")


def test_override_to_missing_device_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv(device.DEVICE_ENV, "cuda")
    with pytest.raises(RuntimeError, match="not available.*COURSE_DEVICE"):
        device.get_device()
    monkeypatch.setenv(device.DEVICE_ENV, "gpu-please")
    with pytest.raises(ValueError, match="not a device name"):
        device.get_device()


def test_seeding_repeats_every_source_of_randomness():
    import random

    import numpy as np

    def draw():
        return random.random(), np.random.rand(), torch.rand(3).tolist(), torch.randn(2, generator=gen).tolist()

    gen = device.seed_everything(7)
    first = draw()
    gen = device.seed_everything(7)
    assert draw() == first
    gen = device.seed_everything(8)
    assert draw() != first


def test_autocast_dtype_per_device(monkeypatch):
    assert device.autocast_dtype("cpu") is None
    assert device.autocast_dtype("mps") == torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert device.autocast_dtype("cuda") == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert device.autocast_dtype("cuda") == torch.float16
    assert device.needs_grad_scaler("cuda") and not device.needs_grad_scaler("cpu")


def test_autocast_is_a_no_op_on_cpu():
    with device.autocast("cpu"):
        y = torch.ones(2, 2) @ torch.ones(2, 2)
    assert y.dtype == torch.float32


def test_describe_names_the_device():
    info = device.describe("cpu")
    assert info["device"] == "cpu" and info["torch_threads"] >= 1
