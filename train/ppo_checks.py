"""The checks of `ebsd train ppo` that need no model and no run folder: its flags (`validate`), PPO's own
hyperparameters, the env's settings and what multi-drafter traces refuse, each refused in one line.

A refused run leaves nothing behind: `train.ppo` runs these before it makes the run folder or loads the pair.
The config is `train.ppo.PPOConfig` (not imported here: `train.ppo` imports this module).
"""

from __future__ import annotations

import math
from pathlib import Path

from ebsd_env.cli.args import check_model_args
from ebsd_env.io import check_folder_path

from .common import check_cost_profiles, is_multi_traces

MULTI_REPLAY = "EBSD-Multi-Replay-v1"


def validate(config) -> None:
    """What can be refused before the run folder exists (a refused run leaves nothing behind)."""
    check_model_args(config)
    check_folder_path(config.runs_dir, "--runs-dir")
    if config.total_timesteps < 1:
        raise ValueError(f"--total-timesteps must be >= 1, got {config.total_timesteps}")
    if config.num_envs < 1:
        raise ValueError(f"--num-envs must be >= 1, got {config.num_envs}")
    if config.n_steps < 2:
        raise ValueError(f"--n-steps must be >= 2, got {config.n_steps}")
    if config.batch_size < 2 or config.batch_size > config.n_steps * config.num_envs:
        raise ValueError(f"--batch-size must lie in [2, n_steps * num_envs = {config.n_steps * config.num_envs}], "
                         f"got {config.batch_size}")
    if config.eval_freq < 0 or config.checkpoint_freq < 1:
        raise ValueError("--eval-freq must be >= 0 and --checkpoint-freq >= 1")
    check_cost_profiles(config.cost_profiles, config.traces, config.cost_model)
    check_learning(config)
    check_env_settings(config)
    if config.cost_model is not None:
        from ebsd_env.timing.cost_model import CostModel

        CostModel.load(config.cost_model)  # a missing or corrupt file, named, before the run folder exists
    if config.traces is not None:
        if config.clock != "model":
            raise ValueError("--traces replays recorded traces, which only the model clock can time: add --clock "
                             "model")
        if is_multi_traces(config.traces):
            check_multi_settings(config)
        elif not Path(config.traces).is_dir() or not any(Path(config.traces).glob("shard-*.parquet")):
            raise ValueError(f"--traces {config.traces}: no trace shards there; record them with `ebsd record --out "
                             f"{config.traces}`")
    if config.save_model is not None:
        from ebsd_env.io import check_file_path

        check_file_path(config.save_model, "--save-model")


def check_multi_settings(config) -> None:
    """What the multi-drafter replay does not take (one-line errors, before the run folder exists)."""
    pricing = ("the traces' own per-drafter calibrations price the episodes; --cost-profiles jitter or "
               "multi-drafter profile files price them by many")
    for flag, given, why in (("--cost-model", config.cost_model, pricing),
                             ("--min-draft-len", config.min_draft_len, "the drafter is chosen before any token"),
                             ("--normalize-reward", config.normalize_reward, "not implemented there")):
        if given:
            raise ValueError(f"{flag} is not supported on multi-drafter traces ({config.traces} holds multi.json): "
                             f"drop it ({why})")
    if config.env_id not in ("EBSD-v1", MULTI_REPLAY):
        raise ValueError(f"--traces {config.traces} holds multi-drafter traces: use --env-id {MULTI_REPLAY}")


def check_learning(config) -> None:
    """PPO's own hyperparameters: values SB3 would take silently and train nonsense with (a discount above 1, a
    layer of no units), or fail on deep inside the first update."""
    if not 0 < config.gamma <= 1:
        raise ValueError(f"--gamma must be in (0, 1] (1, the default, keeps the objective's order), got {config.gamma}")
    if not 0 <= config.gae_lambda <= 1:
        raise ValueError(f"--gae-lambda must be in [0, 1], got {config.gae_lambda}")
    if not config.net_arch or min(config.net_arch) < 1:
        sizes = " ".join(map(str, config.net_arch)) or "none"
        raise ValueError(f"--net-arch takes hidden layer sizes >= 1 (e.g. 64 64), got {sizes}")
    for flag, value in (("--learning-rate", config.learning_rate), ("--clip-range", config.clip_range)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{flag} must be a finite number > 0, got {value}")
    for flag, value in (("--ent-coef", config.ent_coef), ("--vf-coef", config.vf_coef)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{flag} must be a finite number >= 0, got {value}")
    if config.n_epochs < 1:
        raise ValueError(f"--n-epochs must be >= 1, got {config.n_epochs}")
    if config.live_eval_freq is not None and config.live_eval_freq < 0:
        raise ValueError(f"--live-eval-freq must be >= 0 (0: none), got {config.live_eval_freq}")
    for flag, values in (("--fixed-ks", config.fixed_ks), ("--live-fixed-ks", config.live_fixed_ks)):
        if any(k < 0 for k in values):
            raise ValueError(f"{flag} takes draft lengths >= 0 (0: the verifier alone), got "
                             f"{' '.join(map(str, values))}")


def check_env_settings(config) -> None:
    """The env's settings, refused here rather than by the env after the run folder exists and the pair loaded."""
    from ebsd_env.decoding.entropy import EntropyConfig

    if config.env_id not in ("EBSD-v1", "EBSD-Deterministic-v1", "EBSD-Replay-v1", MULTI_REPLAY):
        raise ValueError(f"--env-id {config.env_id!r} is not an EBSD env; valid: EBSD-v1, EBSD-Deterministic-v1, "
                         f"EBSD-Replay-v1, {MULTI_REPLAY}")
    for flag, value in (("--history", config.history), ("--max-new-tokens", config.max_new_tokens),
                        ("--eval-prompts-per-category", config.eval_prompts_per_category),
                        ("--live-eval-prompts-per-category", config.live_eval_prompts_per_category)):
        if value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")
    if config.prompts_per_category is not None and config.prompts_per_category < 1:
        raise ValueError(f"--prompts-per-category must be >= 1 (or None for all), got {config.prompts_per_category}")
    if not 0 <= config.min_draft_len <= config.max_draft_len or config.max_draft_len < 1:
        raise ValueError(f"need 0 <= --min-draft-len <= --max-draft-len and --max-draft-len >= 1, got "
                         f"{config.min_draft_len} and {config.max_draft_len}")
    if not (math.isfinite(config.temperature) and config.temperature >= 0):
        raise ValueError(f"--temperature must be a finite number >= 0 (0 = greedy), got {config.temperature}")
    try:
        EntropyConfig(config.entropy, config.entropy_param)
    except ValueError as error:
        raise ValueError(f"--entropy / --entropy-param: {error}") from None
