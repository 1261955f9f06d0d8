"""What a finished `ebsd eval` writes beside its episode rows: the run's record (`run_meta`), the lossy reference
(`lossy_row`), and ``summary.json``, report.md with its plots and TensorBoard scalars (`finish`)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path

from ebsd_env.envs.objective import OBJECTIVE
from ebsd_env.io import write_json_atomic

from ..multi.envs import drafter_cost_models
from .config import EvalConfig
from .plan import Plan


def run_meta(config: EvalConfig, plan: Plan, pair, prompts: list[dict], envs: dict, probes: dict) -> dict:
    import torch

    from ..metrics import forward_flops_per_token

    flops = {}
    for role, model in (("drafter", pair.drafter), ("verifier", pair.verifier)):
        try:
            # The project's drafters know their own cost (reduced head, fuse layer); HF models from their config.
            own = getattr(model, "flops_per_token", None)
            flops[role] = own() if callable(own) else forward_flops_per_token(model.config)
        except AttributeError as error:  # a config without the decoder-only fields the estimate needs
            flops[role] = None
            plan.notes.append(f"no FLOPs estimate for the {role}: its config lacks {error.name}")
    cost_models = {str(key[0]): env.unwrapped.decode_clock.costs.to_dict() for key, env in envs.items()}
    per_drafter = {str(key[0]): drafter_cost_models(env) for key, env in envs.items()}
    per_drafter = {t: costs for t, costs in per_drafter.items() if costs is not None}
    return {
        "config": asdict(config), "drafter": pair.drafter_name, "verifier": pair.verifier_name,
        "device": str(pair.device), "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "prompts": len(prompts), "categories": list(dict.fromkeys(p["category"] for p in prompts)),
        "variants": [v.label for v in plan.variants], "notes": plan.notes, "flops_per_token": flops,
        "cost_models": cost_models, "objective": OBJECTIVE, "stop_mode": config.stop_mode,
        "stop_modes": {v.label: probes[v.spec].stop_mode or probes[v.spec].env_requirements().get("stop_mode")
                       or dict(v.env).get("stop_mode") or config.stop_mode for v in plan.variants},
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **({"drafter_cost_models": per_drafter} if per_drafter else {}),  # a multi-drafter pair's, by drafter name
    }


def lossy_row(out: Path, pair, prompts: list[dict], max_new_tokens: int) -> dict:
    """The int4 copy alone on the run's prompts (`eval.bench.lossy`), kept in OUT/lossy_reference.json so a resumed
    run does not measure it again; ``{"skipped": reason}`` where the pair has no int4 copy."""
    from ebsd_env.replay.record import decoder_prompt

    from ..bench.lossy import lossy_reference

    saved = out / "lossy_reference.json"
    if saved.is_file():
        return json.loads(saved.read_text())
    try:
        row = lossy_reference(pair, [decoder_prompt(pair, p) for p in prompts], max_new_tokens)
    except ValueError as error:  # no int4 copy of this verifier here (not on the CPU, not a plain Llama block)
        row = {"skipped": str(error)}
    write_json_atomic(saved, row)
    print("[ebsd eval] lossy reference: " + (row.get("skipped") or
          f"{row['label']}: {row['tokens_per_s']:.1f} tok/s ({row['speedup']:.2f}x the verifier alone), agreement "
          f"{row['agreement']:.3f}, identical outputs {row['identical_share']:.2f}"), flush=True)
    return row


def finish(out: Path, rows: list[dict], meta: dict, tensorboard: bool = True) -> dict:
    """summary.json (atomic), report.md with plots, and TensorBoard scalars from the episode rows."""
    from ..analysis import summarize
    from ..metrics import verification_curve
    from ..report import write_report
    from ..scalars import write_tensorboard

    summary = summarize(rows, meta)
    summary["verification_curve"] = {str(k): point for k, point in verification_curve(rows).items()}
    if meta.get("lossy_reference") is not None:  # beside the policies, never ranked with them
        summary["lossy_reference"] = meta["lossy_reference"]
    write_json_atomic(out / "summary.json", summary)
    write_report(summary, rows, out)
    if tensorboard:
        write_tensorboard(summary, out / "tb")
    return summary
