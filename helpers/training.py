"""The course's one training loop, used by every model that trains: GPT and BERT pretraining,
fine-tuning, the biLM, the tagger.

    history = train(model, get_batch, TrainConfig(max_iters=2000), ckpt_path="run.safetensors")

``get_batch(split, generator)`` returns the *global* batch (a tuple of tensors, examples along dim 0)
of split "train" or "val", drawn with ``generator``; ``model(*batch)`` returns ``(logits, loss)``, or
pass ``step_fn(model, batch) -> (loss, {"part": value})``. One step: the batch is cut into this
process's share and into ``grad_accum`` micro-batches, each runs forward and backward (in mixed
precision where the device has it), the gradients are clipped and AdamW steps, with a warm-up and a
cosine (or linear) decay of the learning rate. Every ``eval_interval`` steps the mean loss of
``eval_iters`` batches of each split is measured with a generator of its own (so the training batches
that follow do not change) and a checkpoint is written, from which a new call resumes exactly.

Under ``torchrun --nproc_per_node N`` the same call runs on N processes: the model is wrapped in
DistributedDataParallel, each process takes 1/N of every global batch, losses are averaged over the
processes, and only rank 0 prints, draws the bar and writes checkpoints (see helpers.distributed).
``helpers.batches`` makes ``get_batch`` functions: random rows of tensors, or epochs of index batches.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import asdict, dataclass, replace
from typing import Callable, Sequence

import torch

from . import distributed as dist
from . import validation as validate
from .checkpoint import check_checkpoint_path, checkpoint_info, load_checkpoint, save_checkpoint
from .device import autocast, needs_grad_scaler


@dataclass
class TrainConfig:
    max_iters: int = 2000  # optimizer steps in all
    batch_size: int = 12  # the global batch (get_batch decides; checked against processes x grad_accum)
    learning_rate: float = 1e-3  # peak learning rate, reached after the warm-up
    min_lr: float = 1e-4  # the floor the decay ends at
    warmup_iters: int = 100  # linear warm-up
    warmup_from_zero: bool = False  # warm-up lr * it / warmup (step 0 at 0) instead of lr * (it+1) / (warmup+1)
    lr_decay_iters: int | None = None  # where the decay ends; None: max_iters
    decay: str = "cosine"  # "cosine" (nanoGPT) or "linear" (BERT, the transformers Trainer)
    weight_decay: float = 0.1  # AdamW, on matrices only (not biases, norms)
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0  # clip the global gradient norm; 0 turns clipping off
    grad_accum: int = 1  # micro-batches per step: the gradients of the pieces add up to the batch's
    eval_interval: int = 250  # evaluate every this many steps (and at the end); 0: only at the end
    eval_iters: int = 20  # batches per split averaged in one evaluation
    ckpt_interval: int = 0  # save a checkpoint every this many steps; 0: only at evaluations
    seed: int = 1337
    max_seconds: float | None = None  # a training-time budget (evaluations excluded); the schedule follows it
    compile: bool = False  # torch.compile the model (slow to start, faster steps on GPUs)
    best_metric: str | None = None  # keep the weights of the best evaluation by this key, load them at the end
    best_mode: str = "min"  # "min" (a loss) or "max" (an accuracy)
    patience: int = 0  # stop after this many evaluations without a better best_metric; 0: never

    def __post_init__(self):
        _check(self)  # a bad field fails here, not at the first evaluation (train checks again: fields can change)


def _is_config(cfg) -> None:
    if not isinstance(cfg, TrainConfig):
        raise validate.ArgumentTypeError(f"cfg must be a TrainConfig; got {type(cfg).__name__}.")


def lr_at(it: float, cfg: TrainConfig, budget_used: float | None = None) -> float:
    """The learning rate at step ``it``: linear warm-up, then cosine (or linear) decay to min_lr.
    ``budget_used``: the fraction of a time budget spent; the schedule then runs by whichever of the
    step count and the clock is further along, so the decay completes when the time runs out."""
    _is_config(cfg)
    it = validate.real("it", it, low=0)
    budget_used = validate.non_negative("budget_used", budget_used, optional=True)
    if budget_used is not None:
        it = max(it, budget_used * cfg.max_iters)
    decay_iters = cfg.lr_decay_iters or cfg.max_iters
    if it < cfg.warmup_iters:
        if cfg.warmup_from_zero:
            return cfg.learning_rate * it / cfg.warmup_iters
        return cfg.learning_rate * (it + 1) / (cfg.warmup_iters + 1)
    if it >= decay_iters:
        return cfg.min_lr
    ratio = (it - cfg.warmup_iters) / max(1, decay_iters - cfg.warmup_iters)
    coeff = 0.5 * (1.0 + math.cos(math.pi * ratio)) if cfg.decay == "cosine" else 1.0 - ratio  # 1 -> 0
    return cfg.min_lr + coeff * (cfg.learning_rate - cfg.min_lr)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on 2-D weights (matrices, embeddings) only, as nanoGPT."""
    _is_config(cfg)
    params = [p for p in model.parameters() if p.requires_grad]  # parameters() de-duplicates tied ones
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2))


def default_step(model, batch):
    """``model(*batch)`` -> its loss (the second output, or ``.loss``), no parts."""
    out = model(*batch)
    loss = out[1] if isinstance(out, tuple) else getattr(out, "loss", out)
    return loss, {}


def _batch_loss(model, batch, step_fn, device, accum: int = 1, backward=None):
    """Mean loss (and parts) of a global batch over all processes; with ``backward``, also the
    gradients, micro-batch by micro-batch. -> (loss, {part: value}) as floats."""
    pieces = dist.my_pieces(batch, accum)
    sums = None
    for i, (piece, weight) in enumerate(pieces):
        piece = tuple(t.to(device) if isinstance(t, torch.Tensor) else t for t in piece)
        last = i == len(pieces) - 1  # DDP all-reduces the gradients only after the last micro-batch
        sync = contextlib.nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync()
        with sync:
            with autocast(device):
                loss, parts = step_fn(model, piece)
            if backward is not None:
                backward(loss * weight)  # weight: this piece's share, so the gradients add up to the batch's
        values = torch.tensor([float(v.detach()) if isinstance(v, torch.Tensor) else float(v)
                               for v in (loss, *parts.values())], dtype=torch.float64) * weight
        sums = values if sums is None else sums + values
    sums = dist.all_reduce_sum(sums.to(device)).cpu() / dist.world_size()
    return float(sums[0]), dict(zip(parts, sums[1:].tolist()))


@torch.no_grad()
def estimate_loss(model, get_batch, eval_iters: int, seed: int, step_fn=None, device="cpu",
                  splits: Sequence[str] = ("train", "val")) -> dict[str, float]:
    """Mean loss over ``eval_iters`` batches of each split, with a generator of its own (seeded), so
    that evaluating never changes the training batches that follow."""
    eval_iters, seed = validate.positive_int("eval_iters", eval_iters), validate.non_negative_int("seed", seed)
    splits = validate.list_of_str("splits", splits)
    validate.callable_("get_batch", get_batch)
    step_fn = step_fn or default_step
    was_training = model.training
    model.eval()
    out = {}
    for j, split in enumerate(splits):
        g = torch.Generator().manual_seed(seed + 7919 * (j + 1))
        results = [_batch_loss(model, get_batch(split, g), step_fn, device) for _ in range(eval_iters)]
        out[split] = sum(r[0] for r in results) / eval_iters
        for k in results[0][1]:
            out[f"{split}_{k}"] = sum(r[1][k] for r in results) / eval_iters
    model.train(was_training)
    return out


def _keep_best(model, cfg: TrainConfig, history: dict, best: dict) -> bool:
    """After an evaluation: if cfg.best_metric is at its best so far, copy the trainable weights into
    ``best``; True when it has not improved for cfg.patience evaluations (time to stop)."""
    scores = history[cfg.best_metric]
    at_best = scores.index(max(scores) if cfg.best_mode == "max" else min(scores))  # the first best
    if at_best == len(scores) - 1:
        history["best_step"] = history["eval_step"][-1]
        trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        best.clear()
        best.update({k: v.detach().clone() for k, v in model.state_dict().items() if k in trainable})
    return bool(cfg.patience) and len(scores) - 1 - at_best >= cfg.patience


def _check(cfg: TrainConfig) -> None:
    """Every field of ``cfg`` in range (NumPy numbers become Python ones), or an error naming it."""
    name = "TrainConfig.{}".format
    for field in ("max_iters", "batch_size", "grad_accum", "eval_iters"):
        setattr(cfg, field, validate.positive_int(name(field), getattr(cfg, field)))
    for field in ("warmup_iters", "eval_interval", "ckpt_interval", "seed", "patience"):
        setattr(cfg, field, validate.non_negative_int(name(field), getattr(cfg, field)))
    cfg.lr_decay_iters = validate.positive_int(name("lr_decay_iters"), cfg.lr_decay_iters, optional=True)
    cfg.learning_rate = validate.positive(name("learning_rate"), cfg.learning_rate)
    for field in ("min_lr", "weight_decay", "grad_clip"):  # 0 is fine: no floor, no decay, no clipping
        setattr(cfg, field, validate.non_negative(name(field), getattr(cfg, field)))
    for field in ("beta1", "beta2"):
        setattr(cfg, field, validate.real(name(field), getattr(cfg, field), 0, 1, high_open=True))
    cfg.max_seconds = validate.positive(name("max_seconds"), cfg.max_seconds, optional=True)
    cfg.warmup_from_zero = validate.boolean(name("warmup_from_zero"), cfg.warmup_from_zero)
    cfg.compile = validate.boolean(name("compile"), cfg.compile)
    validate.one_of(name("decay"), cfg.decay, ("cosine", "linear"))
    validate.one_of(name("best_mode"), cfg.best_mode, ("min", "max"))
    if cfg.best_metric is not None:
        validate.string(name("best_metric"), cfg.best_metric)
    elif cfg.patience:
        raise validate.ArgumentValueError(f"TrainConfig.patience={cfg.patience} needs a best_metric to watch "
                                          f"(e.g. best_metric='val'); set one, or patience=0.")
    if dist.world_size() > 1 or cfg.grad_accum > 1:
        dist.check_divides(cfg.batch_size, cfg.grad_accum)


def _empty(x) -> bool:
    return len(x) == 0 if isinstance(x, torch.Tensor) and x.dim() else isinstance(x, (list, tuple)) and not x


def train(model, get_batch: Callable, cfg: TrainConfig, ckpt_path=None, resume: bool = True,
          step_fn: Callable | None = None, device=None, progress: bool = True, optimizer=None,
          evaluate: Callable | None = None, desc: str = "training") -> dict:
    """Train ``model`` for cfg.max_iters steps (or cfg.max_seconds); returns the history (dict).

    get_batch(split, generator) -> the global batch, a tuple of tensors; split "train" or "val".
    step_fn(model, batch) -> (loss, {name: float}); by default ``model(*batch)[1]``.
    evaluate(model) -> {name: float}, measured instead of the train and val losses (e.g. an accuracy).
    ckpt_path: a .safetensors file; with resume=True and the file present, training continues from
    it exactly (same batches, same dropout masks, same losses on the CPU). A KeyboardInterrupt stops
    the loop cleanly: the last checkpoint stays valid and the history so far is returned.

    History: ``step``, ``loss``, ``lr`` per step; ``eval_step``, ``train``, ``val`` (and
    ``train_<part>``, ``val_<part>`` or evaluate's keys) per evaluation; ``seconds`` of training;
    ``tokens`` (elements of the batches' first tensor); ``stopped_by``: "max_iters", "time budget",
    "early stopping", "non-finite loss" or "interrupted"; ``best_step`` with cfg.best_metric.
    """
    from tqdm.auto import tqdm

    _is_config(cfg)
    _check(cfg)
    if not isinstance(model, torch.nn.Module) or not any(p.requires_grad for p in model.parameters()):
        raise validate.ArgumentValueError(f"model must be a torch.nn.Module with trainable parameters; got "
                                          f"{type(model).__name__} with none to train.")
    validate.callable_("get_batch", get_batch)
    step_fn = validate.callable_("step_fn", step_fn) if step_fn is not None else None
    evaluate = validate.callable_("evaluate", evaluate) if evaluate is not None else None
    resume, progress = validate.boolean("resume", resume), validate.boolean("progress", progress)
    ckpt_path = check_checkpoint_path(ckpt_path, writable=dist.is_main())  # before any step, not at the first save
    device = torch.device(device) if device is not None else next(model.parameters()).device
    dist.init(device)
    main, step_fn = dist.is_main(), step_fn or default_step
    optimizer = optimizer or make_optimizer(model, cfg)
    scaler = torch.amp.GradScaler(device.type, enabled=needs_grad_scaler(device))
    generator = torch.Generator().manual_seed(cfg.seed)  # the same on every process: the same global batches
    torch.manual_seed(cfg.seed)
    history: dict = {"step": [], "loss": [], "lr": [], "eval_step": [], "seconds": 0.0, "tokens": 0,
                     "stopped_by": None}
    best: dict = {}  # the best evaluation's trainable weights (with cfg.best_metric)
    step = 0
    if ckpt_path is not None and resume and ckpt_path.exists():
        meta = load_checkpoint(ckpt_path, model, optimizer, generator, scaler, tensors=best, rank=dist.rank())
        step, history = meta["step"], meta["extra"].get("history", history)
        if main and progress:
            print(f"resumed from {ckpt_path} at step {step}")
    net = dist.wrap(model, device)
    net = torch.compile(net) if cfg.compile else net

    def save(step):
        if ckpt_path is None:
            return
        rng = dist.gather_rng_states()  # every process takes part; rank 0 writes
        if main:
            save_checkpoint(ckpt_path, model, optimizer, step, generator, scaler=scaler, tensors=best,
                            rng_states=rng, extra={"history": history, "train_config": asdict(cfg)})
        dist.barrier()

    def run_evaluation(step) -> bool:
        """Evaluate, record, keep the best weights; True when patience has run out."""
        metrics = evaluate(model) if evaluate else estimate_loss(model, get_batch, cfg.eval_iters,
                                                                 cfg.seed + step, step_fn, device)
        model.train()
        history["eval_step"].append(step)
        for k, v in metrics.items():
            history.setdefault(k, []).append(v)
        bar.set_postfix({k: f"{v:.3f}" for k, v in list(metrics.items())[:3]})
        return _keep_best(model, cfg, history, best) if cfg.best_metric else False

    model.train()
    bar = tqdm(total=cfg.max_iters, initial=step, disable=not (progress and main), desc=desc)
    t0 = time.perf_counter() - history["seconds"]
    # with a time budget, the evaluations are spread over the budget: one each time the run gets
    # another eval_interval / max_iters further along, by steps or by the clock, whichever is ahead
    n_evals = max(1, cfg.max_iters // cfg.eval_interval) if cfg.eval_interval else 0
    used = step / cfg.max_iters
    try:
        while step < cfg.max_iters:
            budget_used = history["seconds"] / cfg.max_seconds if cfg.max_seconds else None
            lr = lr_at(step, cfg, budget_used)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = get_batch("train", generator)
            if not isinstance(batch, (tuple, list)) or not batch or _empty(batch[0]):
                raise validate.TrainingError(
                    f"get_batch('train', generator) gave no training example at step {step + 1} (got "
                    f"{validate._show(batch)}); it must return a tuple of tensors with examples along dim 0. "
                    f"Is the training split empty?"
                    + (f" The checkpoint at {ckpt_path} is kept." if step and ckpt_path else ""))
            loss, parts = _batch_loss(net, batch, step_fn, device, cfg.grad_accum,
                                      backward=lambda l: scaler.scale(l).backward())
            if not math.isfinite(loss):
                last_good = next((x for x in reversed(history["loss"]) if math.isfinite(x)), None)
                if main:
                    print(f"stopped: the loss is {loss} at step {step + 1} (last finite loss {last_good}); the last "
                          f"checkpoint is kept. Try a lower learning rate or stronger gradient clipping.")
                history["stopped_by"] = "non-finite loss"
                optimizer.zero_grad(set_to_none=True)
                break
            if cfg.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            history["step"].append(step)
            history["loss"].append(loss)
            history["lr"].append(lr)
            for k, v in parts.items():
                history.setdefault(f"loss_{k}", []).append(v)
            history["tokens"] += batch[0].numel()
            history["seconds"] = time.perf_counter() - t0
            due = bool(cfg.eval_interval) and step % cfg.eval_interval == 0
            out_of_time = False
            if cfg.max_seconds:  # every process takes rank 0's clock, so that all stop at the same step
                history["seconds"] = dist.broadcast_object(history["seconds"])
                out_of_time = history["seconds"] >= cfg.max_seconds
                previous, used = used, max(step / cfg.max_iters, history["seconds"] / cfg.max_seconds)
                due = int(used * n_evals) > int(previous * n_evals)
                if step >= 10:  # the bar's length: the steps the budget will allow at this speed
                    bar.total = min(cfg.max_iters, max(step + 1, round(step / used)))
            bar.update(1)
            te = time.perf_counter()
            stop = False
            if step == cfg.max_iters or out_of_time or due:
                stop = run_evaluation(step)
                save(step)
            elif cfg.ckpt_interval and step % cfg.ckpt_interval == 0:
                save(step)
            t0 += time.perf_counter() - te  # evaluation and saving are not training time
            if out_of_time or stop:
                history["stopped_by"] = "time budget" if out_of_time else "early stopping"
                break
        history["stopped_by"] = history["stopped_by"] or "max_iters"
    except KeyboardInterrupt:
        history["stopped_by"] = "interrupted"
        saved = checkpoint_info(ckpt_path)["step"] if ckpt_path and ckpt_path.exists() else None
        if main:
            print(f"\ninterrupted at step {step}; " + (f"the checkpoint at step {saved} is intact, run again "
                  "to resume from it." if saved is not None else "no checkpoint was written."))
    finally:
        if history["stopped_by"] in ("time budget", "early stopping"):
            bar.total = step  # the bar ends complete: the run did what its budget allowed
            bar.refresh()
        bar.close()
    if history["stopped_by"] == "time budget" and main and progress:
        print(f"stopped by the time budget after {step} steps ({history['seconds']:.0f} s)")
    if best and history["stopped_by"] != "interrupted":
        model.load_state_dict(best, strict=False)  # the best evaluation's weights, not the last
    return history


def time_steps(model, get_batch: Callable, cfg: TrainConfig, n: int = 20, warmup: int = 3,
               step_fn: Callable | None = None, device=None, optimizer_for: Callable | None = None) -> dict:
    """What one training step of ``train`` costs, measured on a copy of ``model`` (which is left as it
    is, and so is the global random state): ``warmup`` steps first (memory is allocated, caches warm up),
    then ``n`` timed ones. -> {"wall_s": wall seconds per step (this machine as it is now), "cpu_s":
    this process's CPU seconds per step, "tokens": elements of the batch's first tensor per step}.
    The steps are the loop's own, so a time budget planned from them is what ``train`` will spend.
    ``optimizer_for(model)`` builds the optimiser (default: the loop's AdamW)."""
    n, warmup = validate.positive_int("n", n), validate.non_negative_int("warmup", warmup)
    if not isinstance(cfg, TrainConfig):
        raise validate.ArgumentTypeError(f"cfg must be a TrainConfig; got {type(cfg).__name__}.")
    probe = copy.deepcopy(model)
    optimizer = (optimizer_for or (lambda m: make_optimizer(m, cfg)))(probe)
    quiet = replace(cfg, eval_interval=0, ckpt_interval=0, max_seconds=None, best_metric=None, patience=0,
                    compile=False)
    run = dict(step_fn=step_fn, device=device, progress=False, optimizer=optimizer, evaluate=lambda m: {})
    with torch.random.fork_rng():  # the caller's random numbers stay as they were
        if warmup:
            train(probe, get_batch, replace(quiet, max_iters=warmup), **run)
        cpu = time.process_time()
        history = train(probe, get_batch, replace(quiet, max_iters=n), **run)
        cpu = time.process_time() - cpu
    return {"wall_s": history["seconds"] / n, "cpu_s": cpu / n, "tokens": history["tokens"] / n}
