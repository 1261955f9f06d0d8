"""The verdict's live step: every choice made on the validation replay (`select`, `eval.selection`), then the
chosen policies decoded live, once, on the test prompts (wall clock, `eval.run`)."""

from __future__ import annotations

import json
from pathlib import Path

from ebsd_env.io import write_json_atomic

from .config import MAX_DRAFT_LEN, STATIC, VerdictConfig, static_specs
from .experiment import ppo_runs, split_path, tuned_files


def select(out: Path) -> dict:
    """Every choice of the verdict, made on the validation replay (`eval.selection.choose`)."""
    from eval.selection import choose

    path = out / "replay-validation.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `python -m eval.verdict replay --out {out}` first")
    test_categories = list(dict.fromkeys(json.loads(line)["category"]
                                         for line in split_path(out, "test").read_text().splitlines() if line))
    return choose(json.loads(path.read_text()), list(tuned_files(out)), ppo_runs(out), test_categories)


def choose_live(out: Path, selection: dict | None = None, static: tuple[str, ...] = STATIC) -> dict[str, str]:
    """label -> spec of the live verdict: the static policies (those chosen on validation among them), the tuned
    rule of each family and the seed of each PPO variant chosen on validation (see `eval.verdict`)."""
    selection = selection if selection is not None else select(out)
    statics = [spec for spec in selection["best_static"].values() if spec]
    live = {spec: spec for spec in dict.fromkeys([*static, *statics])}
    tuned = tuned_files(out)
    for rule in selection["tuned_rules"].values():
        live[f"tuned {rule}"] = f"tuned:path={tuned[rule]['path']},scope=category"
    runs = {(run["variant"], run["seed"]): run for run in ppo_runs(out)}
    for variant, seed in selection["ppo_seeds"].items():
        live[f"ppo {variant}"] = f"ppo:{runs[(variant, seed)]['model']}"
    return live


def live(config: VerdictConfig) -> None:
    from eval.run import EvalConfig, evaluate

    selection = select(config.out)
    chosen = choose_live(config.out, selection, static_specs(config.static_ks))
    write_json_atomic(config.out / "selection.json", selection, sort_keys=True)
    write_json_atomic(config.out / "live_policies.json", chosen, sort_keys=True)
    from ebsd_env.decoding.kernels import machine_state

    evaluate(EvalConfig(prompts=str(split_path(config.out, "test")), policies=tuple(chosen.values()),
                        limit_per_category=0, max_new_tokens=config.max_new_tokens, clock="wall",
                        drafter=None if config.tiny else config.drafter,
                        out=str(config.out / "eval-live"), threads=config.threads, max_draft_len=MAX_DRAFT_LEN,
                        tensorboard=False, tiny=config.tiny))
    # The machine as the live run ended (its load average covers the run's last minutes).
    write_json_atomic(config.out / "live_machine.json", machine_state(), sort_keys=True)
