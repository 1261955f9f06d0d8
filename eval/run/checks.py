"""The checks of `ebsd eval` that need no model and no output folder: its flags (`validate`) and its policy specs
(`check_policies`), each refused in one line before any slow work."""

from __future__ import annotations

import math

from .config import EvalConfig
from .plan import Plan


def validate(config: EvalConfig) -> None:
    """Every check that needs no model and no output folder. It runs before run.json is written: a typo must not
    leave a folder that then refuses the corrected rerun as "a run with different settings"."""
    from ebsd_env.cli.args import check_model_args
    from ebsd_env.decoding.entropy import EntropyConfig
    from ebsd_env.io import check_folder_path

    check_model_args(config)
    if config.max_new_tokens < 1:
        raise ValueError(f"--max-new-tokens must be >= 1, got {config.max_new_tokens}")
    if not config.seeds:
        raise ValueError("--seeds needs at least one seed")
    if min(config.seeds) < 0:
        raise ValueError(f"--seeds must be >= 0 (they seed NumPy and Gymnasium), got {min(config.seeds)}")
    if not config.temperature:
        raise ValueError("--temperature needs at least one temperature")
    for temperature in config.temperature:
        if not (math.isfinite(temperature) and temperature >= 0):
            raise ValueError(f"--temperature must be finite numbers >= 0 (0 = greedy), got {temperature}")
    if not 0 < config.top_p <= 1:
        raise ValueError(f"--top-p must be in (0, 1], got {config.top_p}")
    try:
        EntropyConfig(config.entropy, config.entropy_param, config.entropy_temperature)
    except ValueError as error:
        raise ValueError(f"--entropy / --entropy-param / --entropy-temperature: {error}") from None
    if config.history < 1:
        raise ValueError(f"--history must be >= 1, got {config.history}")
    if not 0 <= config.min_draft_len <= config.max_draft_len or config.max_draft_len < 1:
        raise ValueError(f"need 0 <= --min-draft-len <= --max-draft-len and --max-draft-len >= 1, got "
                         f"{config.min_draft_len} and {config.max_draft_len}")
    if config.prompts == "builtin" and config.categories:
        from ebsd_env.prompts import BUILTIN_CATEGORIES

        unknown = [c for c in config.categories if c not in BUILTIN_CATEGORIES]
        if unknown:
            raise ValueError(f"--categories: {', '.join(unknown)} not in the built-in suite; valid: "
                             f"{', '.join(BUILTIN_CATEGORIES)}")
    from ..multi.envs import check_env_config

    check_env_config(config)  # the cost model file (one per drafter on a '+'-joined pair), the draft floor
    if config.out:
        check_folder_path(config.out, "--out")


def check_policies(plan: Plan) -> dict:
    """Fail before any model work on a spec the registry does not know (the error lists the valid ones).

    Returns one unbound instance per spec: what the run reads of each policy before it has an env (its stop
    mode, whether it needs extra signals). Made once per spec, since a `ppo:` spec loads its model file."""
    from policies.registry import make_policy

    probes = {}
    for variant in plan.variants:
        if variant.spec in probes:
            continue
        try:
            probes[variant.spec] = make_policy(variant.spec)
        except ValueError as error:
            raise ValueError(f"--policies: bad policy spec {variant.spec!r}: {error}") from error
        if getattr(probes[variant.spec], "replay_only", False):
            raise ValueError(f"--policies {variant.spec}: it plans on recorded traces (EBSD-Replay-v1) and `ebsd eval` "
                             "decodes live; drop it here and compare with it on traces (`ebsd bench env --backend "
                             "replay`, `ebsd tune --traces`)")
    return probes
