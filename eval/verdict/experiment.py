"""The experiment folder OUT of the verdict: its PPO runs, its tuned rules, its split prompts, traces and clock,
each found where `scripts/ppo_verdict.sh` puts it, or a one-line error naming the step that makes it."""

from __future__ import annotations

import json
import re
from pathlib import Path

RUN_NAME = re.compile(r"^(?P<env>[^_]+(?:_[^_]+)*)__(?P<variant>.+)__(?P<seed>\d+)__(?P<time>\d+)$")


def ppo_runs(out: Path) -> list[dict]:
    """Finished PPO runs under OUT/ppo: variant, seed, folder, held-in replay evaluation of the best model."""
    runs = []
    for record_path in sorted((out / "ppo").glob("*/record.json")):
        match = RUN_NAME.match(record_path.parent.name)
        record = json.loads(record_path.read_text())
        if not match or "best_eval" not in record or not (record_path.parent / "best_model.zip").is_file():
            continue
        runs.append({"variant": match["variant"], "seed": int(match["seed"]), "folder": str(record_path.parent),
                     "model": str(record_path.parent / "best_model.zip"), "steps": record["steps"],
                     "held_in_tokens_per_s": record["best_eval"]["tokens_per_s"]})
    return runs


def tuned_files(out: Path) -> dict[str, dict]:
    """rule -> the `ebsd tune` result, with its file path."""
    files = {}
    for path in sorted((out / "tune").glob("*.json")):
        data = json.loads(path.read_text())
        if "best" in data:
            files[path.stem] = {**data, "path": str(path)}
    return files


def split_path(out: Path, name: str) -> Path:
    """OUT/split/NAME.jsonl (train, validation or test), or a one-line error naming the fix; an experiment split
    before validation prompts existed (verdict.jsonl) is refused rather than judged on what it chose from."""
    path = out / "split" / f"{name}.jsonl"
    if not path.is_file():
        old = " (this experiment was split before validation prompts existed: it has verdict.jsonl)" if (
            out / "split" / "verdict.jsonl").is_file() else ""
        raise FileNotFoundError(f"{path} is missing{old}: run `ebsd split --out {out / 'split'}` in a new experiment "
                                "folder and record its validation and test traces (scripts/ppo_verdict.sh does)")
    return path


def traces_path(out: Path, name: str) -> Path:
    """OUT/traces-NAME (validation or test), or a one-line error naming the fix."""
    path = out / f"traces-{name}"
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is missing: `ebsd record --out {path} --prompt-source "
                                f"{out / 'split' / (name + '.jsonl')}` (scripts/ppo_verdict.sh records it)")
    return path


def cost_model_path(out: Path) -> Path:
    path = out / "cost_model.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: run `python -m eval.verdict calibrate --out {out}` first")
    return path
