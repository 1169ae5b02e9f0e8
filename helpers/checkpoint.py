"""The course's one checkpoint format: safetensors for the tensors, JSON for everything else.

    save_checkpoint(path, model, optimizer, step, generator, extra={"history": ...})
    meta = load_checkpoint(path, model, optimizer, generator)   # -> {"step", "config", "extra", ...}
    checkpoint_info(path)                                       # the JSON part only, no tensors read
    atomic_write(path, write)                                   # any file, all or nothing

One ``.safetensors`` file holds the model's tensors (``model.*``), the optimiser's moments
(``optim.<param>.<name>``), the random-number states (``rng.*``) and any extra tensors
(``extra.*``, e.g. the best weights so far); a JSON string in its metadata holds the step, the model
config, the optimiser's hyper-parameters (tuples such as Adam's betas come back as tuples), Python's
random state and whatever the caller adds (the training history). Files are written under a
temporary name and renamed over the old one, so a crash leaves the previous checkpoint whole.
Loading checks everything (the file is whole, the configuration and every shape fit) before it
touches the model.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Callable

import torch

from . import validation as validate

FORMAT = "llm-course-checkpoint/2"


def atomic_write(path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp)`` to write a temporary file next to ``path``, then rename it over ``path``.

    Readers see the old file or the whole new one, never half of one; on any error (Ctrl-C too)
    the temporary file is removed and ``path`` is left as it was.
    """
    path = validate.file_path("path", path, must_exist=False)  # a folder here: a PathError
    validate.callable_("write", write)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def check_checkpoint_path(path, what: str = "ckpt_path", writable: bool = False) -> Path | None:
    """``path`` as a Path (None stays None), or a PathError if it names a folder (a checkpoint is one
    file, e.g. ``run/last.safetensors``). ``writable``: its folder is created now and must be writable,
    so that a run fails before its first step rather than at its first save."""
    if path is None:
        return None
    path = validate.file_path(what, path, must_exist=False)
    if writable:
        validate.dir_path(f"the folder of {what}", path.parent, writable=True)
    return path


# --------------------------------------------------------------------------------------------
# JSON with tuples: {"__tuple__": [...]} so that hyper-parameters come back with their types
# --------------------------------------------------------------------------------------------


def _to_json(obj):
    if isinstance(obj, tuple):
        return {"__tuple__": [_to_json(o) for o in obj]}
    if isinstance(obj, list):
        return [_to_json(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _to_json(v) for k, v in obj.items()}
    if isinstance(obj, torch.Tensor):  # e.g. a learning rate kept as a tensor
        return obj.item() if obj.numel() == 1 else obj.tolist()
    return obj


def _from_json(obj):
    if isinstance(obj, dict):
        if set(obj) == {"__tuple__"}:
            return tuple(_from_json(o) for o in obj["__tuple__"])
        return {k: _from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_from_json(o) for o in obj]
    return obj


def config_dict(model) -> dict:
    """The model's config as plain JSON values ({} when it has none)."""
    config = getattr(model, "config", None)
    if config is None:
        return {}
    if is_dataclass(config):
        return json.loads(json.dumps(asdict(config)))  # tuples -> lists, as they come back from a file
    if hasattr(config, "to_dict"):  # a transformers PretrainedConfig
        d = config.to_dict()
        return {k: v for k, v in d.items() if isinstance(v, (int, float, str, bool)) and not k.startswith("_")
                and k not in ("transformers_version", "torch_dtype", "dtype")}
    return {}


def _trainable(model) -> list[str]:
    return sorted(n for n, p in model.named_parameters() if p.requires_grad)


# --------------------------------------------------------------------------------------------
# Saving and loading
# --------------------------------------------------------------------------------------------


def save_checkpoint(path, model, optimizer=None, step: int = 0, generator: torch.Generator | None = None,
                    extra: dict | None = None, scaler=None, tensors: dict | None = None,
                    rng_states: list | None = None) -> Path:
    """Write model, optimiser, RNG states, ``extra`` (JSON-able) and ``tensors`` (saved as
    ``extra.<name>``) to ``path`` atomically. ``rng_states``: the torch RNG state of every process of
    a distributed run (rank order); by default this process's own."""
    from safetensors.torch import save_file

    path = check_checkpoint_path(path, "path")
    step = validate.non_negative_int("step", step)
    if not isinstance(model, torch.nn.Module):
        raise validate.ArgumentTypeError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
    # clone: tied weights share memory, which safetensors refuses; each key gets its own copy
    out = {f"model.{k}": v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()}
    meta: dict = {"format": FORMAT, "step": step, "config": config_dict(model), "extra": extra or {},
                  "trainable": _trainable(model), "python_random": random.getstate()}
    if optimizer is not None:
        state = optimizer.state_dict()
        for pid, pstate in state["state"].items():
            for key, value in pstate.items():
                t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
                out[f"optim.{pid}.{key}"] = t.detach().cpu().clone().contiguous()
        meta["optim_groups"] = state["param_groups"]
    for r, s in enumerate(rng_states or [torch.get_rng_state()]):
        out[f"rng.torch.{r}"] = s  # dropout and anything else on the global generator, per process
    if generator is not None:
        out["rng.generator"] = generator.get_state()  # the batch sampler's generator
    if torch.cuda.is_available():
        out["rng.cuda"] = torch.cuda.get_rng_state()
    for k, v in (tensors or {}).items():
        out[f"extra.{k}"] = v.detach().cpu().clone().contiguous()
    if scaler is not None and scaler.is_enabled():
        meta["scaler"] = {k: v for k, v in scaler.state_dict().items() if isinstance(v, (int, float))}
    text = json.dumps(_to_json(meta))
    return atomic_write(path, lambda tmp: save_file(out, tmp, metadata={"course": text}))


def checkpoint_info(path) -> dict:
    """The JSON part of a checkpoint: step, model config, extra (history), without loading tensors.
    Raises ValueError for a file that is not a whole course checkpoint."""
    from safetensors import safe_open

    path = validate.file_path("path", path)  # a folder or a missing file: a clear error, not OSError
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as err:  # safetensors' own error type varies between versions
        raise ValueError(f"{path} is not a readable checkpoint (cut short or another format: {err}). "
                         f"Delete it to start afresh.") from err
    if "course" not in meta:
        raise ValueError(f"{path} is not a course checkpoint (no 'course' metadata).")
    return _from_json(json.loads(meta["course"]))


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as err:
        raise ValueError(f"the checkpoint {path} is cut short or damaged ({err}); nothing was loaded. "
                         f"Delete it to start afresh.") from err


def _check_fits(path: Path, meta: dict, state: dict, model, optimizer) -> None:
    """Refuse a checkpoint of another model, naming what differs, before anything is loaded."""
    want, have = meta.get("config", {}), config_dict(model)
    problems = []
    if want and have and want != have:
        diff = {k: (want.get(k), have.get(k)) for k in sorted(set(want) | set(have)) if want.get(k) != have.get(k)}
        problems.append(f"config differences (checkpoint, this model): {diff}")
    own = model.state_dict()
    for name in list(own) + [k for k in state if k not in own]:  # in the model's order
        if name not in own:
            problems.append(f"first mismatched parameter: {name!r} is in the checkpoint but not in this model")
        elif name not in state:
            problems.append(f"first mismatched parameter: {name!r} of this model is not in the checkpoint")
        elif state[name].shape != own[name].shape:
            problems.append(f"first mismatched parameter: {name!r} has shape {tuple(state[name].shape)} in the "
                            f"checkpoint and {tuple(own[name].shape)} in this model")
        else:
            continue
        break
    if optimizer is not None and "trainable" in meta and meta["trainable"] != _trainable(model):
        problems.append(f"other trainable parameters ({len(meta['trainable'])} in the checkpoint, "
                        f"{len(_trainable(model))} now)")
    if problems:
        raise ValueError(f"the checkpoint {path} was saved from another configuration; " + "; ".join(problems)
                         + ". Build the model as it was saved, or start a fresh run in another folder.")


def load_checkpoint(path, model, optimizer=None, generator: torch.Generator | None = None,
                    scaler=None, restore_rng: bool = True, tensors: dict | None = None, rank: int = 0) -> dict:
    """Load a checkpoint written by save_checkpoint into ``model`` (and optimiser, RNG states; the
    extra tensors into the dict ``tensors``). Nothing is loaded unless the whole file is readable and
    fits the model. ``rank``: whose torch RNG state to restore in a distributed run (rank 0's if the
    run that saved it had fewer processes). Returns the JSON part (``step``, ``config``, ``extra``)."""
    path = validate.file_path("path", path)
    if not isinstance(model, torch.nn.Module):
        raise validate.ArgumentTypeError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
    rank = validate.non_negative_int("rank", rank)
    meta = checkpoint_info(path)
    saved = _read_tensors(path)
    state = {k[len("model."):]: v for k, v in saved.items() if k.startswith("model.")}
    _check_fits(path, meta, state, model, optimizer)
    model.load_state_dict(state, strict=True)
    if optimizer is not None and "optim_groups" in meta:
        opt_state: dict = {}
        for k, v in saved.items():
            if k.startswith("optim."):
                _, pid, key = k.split(".", 2)
                opt_state.setdefault(int(pid), {})[key] = v
        optimizer.load_state_dict({"state": opt_state, "param_groups": meta["optim_groups"]})
    if restore_rng:
        key = f"rng.torch.{rank}" if f"rng.torch.{rank}" in saved else "rng.torch.0"
        torch.set_rng_state(saved.get(key, saved.get("rng.torch")))
        if generator is not None and "rng.generator" in saved:
            generator.set_state(saved["rng.generator"])
        if "rng.cuda" in saved and torch.cuda.is_available():
            torch.cuda.set_rng_state(saved["rng.cuda"])
        random.setstate(meta["python_random"])
    if scaler is not None and "scaler" in meta:
        scaler.load_state_dict(meta["scaler"])
    if tensors is not None:
        tensors.update({k[len("extra."):]: v for k, v in saved.items() if k.startswith("extra.")})
    return meta
