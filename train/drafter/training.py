"""The optimisation loop of `ebsd distill`, whatever the drafter: AdamW with warm-up and cosine decay, held-out
evaluations, TensorBoard in ``tb/``, and checkpoints that a rerun resumes (``checkpoint.pt``, the exported
drafter ``export/`` and ``history.json``).

The drafter's own pieces come in as two callables (`train.drafter.feature` and `train.drafter.layers` make
them): ``loss_and_hits(batch) -> (loss, [hits, ...])`` and ``evaluate() -> dict`` on the held-out records.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ebsd_env.decoding.drafters import save_drafter
from ebsd_env.io import write_json_atomic

from .data import save_tensors


@dataclass
class TrainingData:
    """The records a drafter trains and is evaluated on, and the draft head chosen on them."""

    train_records: list[dict]
    heldout_records: list[dict]
    head_index: torch.Tensor  # the verifier's token ids the draft head covers
    to_head: torch.Tensor  # [vocab]: a verifier token's row in the head, -1 outside it
    positions: int  # training positions (generated ones; every position of a feature record)


@dataclass
class Training:
    """A drafter under training and what a checkpoint keeps of it."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    step: int = 0
    train_seconds: float = 0.0
    history: list[dict] = field(default_factory=list)


def lr_factor(step: int, config) -> float:
    """Linear warm-up over --warmup-steps, then cosine decay to 10 % at --steps."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps))
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def start_training(config, model: torch.nn.Module, checkpoint_file: Path) -> Training:
    """AdamW over the trainable parameters, resumed from `checkpoint_file` where a run left one."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                                  weight_decay=config.weight_decay)
    run = Training(model, optimizer)
    if checkpoint_file.is_file():
        state = torch.load(checkpoint_file, weights_only=False)
        shapes = {name: tuple(t.shape) for name, t in model.state_dict().items()}
        if shapes != {name: tuple(t.shape) for name, t in state["model"].items()}:
            raise ValueError(f"{checkpoint_file} holds a drafter of another shape: resume with the same "
                             "--architecture and --num-layers as before, or start a new --out")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        run.step, run.train_seconds, run.history = state["step"], state["train_seconds"], state["history"]
        print(f"[distill] resumed at step {run.step} ({run.train_seconds:.0f} s of training so far)", flush=True)
    return run


def save_checkpoint(config, run: Training, data: TrainingData, run_dir: Path) -> None:
    """``checkpoint.pt``, the exported drafter with its metadata, and ``history.json``."""
    save_tensors({"model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(), "step": run.step,
                 "train_seconds": run.train_seconds, "history": run.history}, run_dir / "checkpoint.pt")
    metadata = {"verifier": "tiny" if config.tiny else "embedded:smollm2-135m-instruct", "step": run.step,
                "train_seconds": round(run.train_seconds, 1), "train_records": len(data.train_records),
                "train_positions": data.positions, "heldout": run.history[-1] if run.history else None,
                # Benchmarks measure the drafter on these prompts: it never trained on them.
                "heldout_prompt_ids": sorted({r["prompt_id"] for r in data.heldout_records}),
                "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}}
    save_drafter(run.model, run_dir / "export", metadata)
    # The held-out evaluations so far, readable without torch (docs figures, plots).
    write_json_atomic(run_dir / "history.json", {
        "config": metadata["config"], "train_records": len(data.train_records), "train_positions": data.positions,
        "history": run.history}, sort_keys=True)


def train_drafter(config, run: Training, data: TrainingData, loss_and_hits: Callable, evaluate: Callable,
                  run_dir: Path) -> None:
    """Train up to --steps (or --train-minutes), evaluating and checkpointing as configured; a last checkpoint
    at the end."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run_dir / "tb"))
    if run.step == 0:
        run.history.append({"step": 0, **evaluate()})
        print(f"[distill] before training: held-out agreement {run.history[-1]['agreement']:.3f}, "
              f"head coverage {run.history[-1]['head_coverage']:.3f}", flush=True)
    started = time.time()
    progress = tqdm(total=config.steps, initial=run.step, desc="distill", unit="step", dynamic_ncols=True)
    while run.step < config.steps:
        if config.train_minutes and time.time() - started > 60 * config.train_minutes:
            tqdm.write(f"[distill] training time budget reached at step {run.step}; resume to continue")
            break
        loss, agreement = _train_step(config, run, data.train_records, loss_and_hits, writer)
        progress.update(1)
        progress.set_postfix(loss=f"{loss:.3f}", agree=f"{agreement:.3f}")
        if run.step % config.eval_every == 0 or run.step == config.steps:
            _evaluate(run, evaluate, writer)
        if run.step % config.checkpoint_every == 0 or run.step == config.steps:
            save_checkpoint(config, run, data, run_dir)
    progress.close()
    save_checkpoint(config, run, data, run_dir)
    writer.close()


def _train_step(config, run: Training, records: list[dict], loss_and_hits: Callable, writer) -> tuple[float, float]:
    """One optimiser step on the next batch of the step's epoch order; returns (loss, agreement)."""
    t0 = time.time()
    epoch, offset = divmod(run.step * config.batch_size, len(records))
    order = list(range(len(records)))
    random.Random(config.seed * 1_000_003 + epoch).shuffle(order)
    batch = [records[order[(offset + i) % len(order)]] for i in range(config.batch_size)]
    optimizer = run.optimizer
    for group in optimizer.param_groups:
        group["lr"] = config.lr * lr_factor(run.step, config)
    loss, hits = loss_and_hits(batch)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), 1.0)
    optimizer.step()
    run.step += 1
    run.train_seconds += time.time() - t0
    step = run.step
    loss, agreement = loss.item(), hits[0].float().mean().item() if hits[0].numel() else float("nan")
    writer.add_scalar("train/loss", loss, step)
    if hits[0].numel():  # a batch of text-only records has no generated position
        writer.add_scalar("train/agreement", agreement, step)
    if len(hits) > 1 and hits[1].numel():
        writer.add_scalar("train/agreement_own_features", hits[1].float().mean().item(), step)
    writer.add_scalar("train/lr", optimizer.param_groups[0]["lr"], step)
    return loss, agreement


def _evaluate(run: Training, evaluate: Callable, writer) -> None:
    """A held-out evaluation: kept in the history, written to TensorBoard and printed."""
    step = run.step
    result = evaluate()
    run.history.append({"step": step, "train_seconds": round(run.train_seconds, 1), **result})
    writer.add_scalar("heldout/loss", result["loss"], step)
    writer.add_scalar("heldout/agreement", result["agreement"], step)
    if "agreement_own" in result:
        writer.add_scalar("heldout/agreement_own_features", result["agreement_own"], step)
    for category, value in result["per_category"].items():
        writer.add_scalar(f"heldout_agreement/{category}", value, step)
    own = f" (own features {result['agreement_own']:.3f})" if "agreement_own" in result else ""
    tqdm.write(f"[distill] step {step}: held-out loss {result['loss']:.3f}, agreement "
               f"{result['agreement']:.3f}{own} " + json.dumps({k: round(v, 3) for k, v in
                                                            result["per_category"].items()}))
