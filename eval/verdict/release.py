"""The verdict's release step: the best learned policy, copied to ``policies/trained/`` with a record of where it
came from, what it was made for (its fingerprint) and what the verdict measured."""

from __future__ import annotations

import json
from pathlib import Path

from ebsd_env.io import write_json_atomic

from .config import VerdictConfig


def release(config: VerdictConfig, target: Path = Path("policies/trained/ppo_embedded")) -> Path:
    """Copy the verdict's best learned policy (the live winner among the PPO variants) to `target`.zip, with
    `target`.json saying where it came from, what it was made for (its fingerprint) and what the verdict
    measured."""
    import shutil

    from ebsd_env.fingerprint import read_zip

    verdict = json.loads((config.results / "verdict.json").read_text())
    label = verdict["best_learned"]
    model = Path(verdict["policies"][label].removeprefix("ppo:"))
    run = model.parent
    record = json.loads((run / "record.json").read_text())
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model, target.with_suffix(".zip"))
    row = verdict["rows"][label]
    write_json_atomic(target.with_suffix(".json"), {
        "policy": label, "run": run.name, "steps": record["steps"], "fingerprint": read_zip(model),
        "config": json.loads((run / "config.json").read_text()),
        "held_in_best_eval": record["best_eval"], "verdict": {
            "prompts": verdict["prompts"], "tokens_per_s": row["tokens_per_s"], "vs_verifier": row["vs_verifier"],
            "source": str(config.results / "verdict.json")}}, sort_keys=True)
    print(f"[verdict] {label} ({run.name}) -> {target.with_suffix('.zip')}")
    return target.with_suffix(".zip")
