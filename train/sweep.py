"""`ebsd train ppo --sweep FILE [--backend ray]`: PPO over seeds and a grid of `PPOConfig` fields, one run each.

The sweep file (JSON or YAML) holds up to three keys:

    seeds: [1, 2, 3]                    # one run per seed (default: the command line's --seed)
    grid:                               # every combination of these PPOConfig fields
      learning_rate: [0.0003, 0.001]
      ent_coef: [0.0, 0.01]
    set: {total_timesteps: 200000}      # fields every run takes

Every other option comes from the command line (`ebsd train ppo --traces DIR --clock model ... --sweep FILE`).
Each run is today's `train.ppo.train`, so it keeps its run folder (TensorBoard, checkpoints, record.json), named
``{env}__{exp_name}-g{grid point}__{seed}__{time}``. With `--backend ray` the runs are Ray Tune trials
(`--num-workers` at a time, `--gpus-per-trial` each: one live env per GPU, docs/ray.md); `local` runs them one
after another here. A rerun of the same sweep skips finished runs and resumes interrupted ones from their last
checkpoint. The best run (its record.json's best evaluation tokens/s) is printed with its folder and its
fingerprint, and the sweep's summary is written to ``{runs_dir}/sweep-{file stem}.json``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import tyro

from ebsd_env.io import write_json_atomic

from .ppo import PPOConfig, _config_from_json, train, validate
from .ppo import main as ppo_main

SWEEP_KEYS = ("seeds", "grid", "set")
# Fields a sweep cannot vary: they name the run folder or the sweep itself, or copy one run's model.
FIXED = ("resume", "save_model", "runs_dir", "seed", "exp_name")
TUPLE_FIELDS = ("categories", "net_arch", "fixed_ks")


@dataclass
class SweepConfig(PPOConfig):
    sweep: str = ""
    """Sweep file (JSON or YAML): `seeds`, `grid` and `set` of PPOConfig fields (see `train.sweep`)."""
    backend: Literal["local", "ray"] = "local"
    """`ray`: one Ray Tune trial per run (`pip install 'ebsd-gym[ray]'`); `local`: one run after another."""
    num_workers: int = 2
    """With --backend ray: runs at a time."""
    address: str | None = None
    """With --backend ray: the cluster to use (`ray start --head` prints it; default: a local Ray instance)."""
    gpus_per_trial: float | None = None
    """With --backend ray: GPUs per run (default: 1 with a CUDA --device, else 0). A live env times itself on
    the wall clock: give each its own GPU."""


def valid_fields() -> list[str]:
    return sorted(f.name for f in dataclasses.fields(PPOConfig) if f.name not in FIXED)


def _typed(name: str, value):
    return tuple(value) if name in TUPLE_FIELDS and value is not None else value


def load_sweep(path: str) -> dict:
    """The sweep file, checked: known keys, known fields, non-empty value lists; one-line errors."""
    import yaml

    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"--sweep {path}: no such file; write a JSON or YAML sweep file (see `train.sweep`)")
    text = file.read_text()
    try:
        data = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise ValueError(f"--sweep {path}: not valid {'JSON' if file.suffix == '.json' else 'YAML'} "
                         f"({' '.join(str(error).split())[:120]})") from None
    if not isinstance(data, dict) or not data:
        raise ValueError(f"--sweep {path}: expected a mapping with any of {', '.join(SWEEP_KEYS)}")
    unknown = sorted(set(data) - set(SWEEP_KEYS))
    if unknown:
        raise ValueError(f"--sweep {path}: unknown key {', '.join(map(repr, unknown))}; valid: {', '.join(SWEEP_KEYS)}")
    seeds = data.get("seeds")
    if seeds is not None and (not isinstance(seeds, list) or not seeds or
                              not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
        raise ValueError(f"--sweep {path}: `seeds` must be a non-empty list of integers, got {seeds!r}")
    for key in ("grid", "set"):
        fields = data.get(key) or {}
        if not isinstance(fields, dict):
            raise ValueError(f"--sweep {path}: `{key}` must map PPOConfig fields to values")
        bad = sorted(set(fields) - set(valid_fields()))
        if bad:
            raise ValueError(f"--sweep {path}: unknown field {', '.join(map(repr, bad))} in `{key}`; valid: "
                             f"{', '.join(valid_fields())}")
        if key == "grid":
            for name, values in fields.items():
                if not isinstance(values, list) or not values:
                    raise ValueError(f"--sweep {path}: grid field {name!r} needs a non-empty list of values")
    return {"seeds": seeds, "grid": data.get("grid") or {}, "set": data.get("set") or {}}


def _absolute(config: PPOConfig) -> PPOConfig:
    """Paths made absolute: a Ray trial runs in its own working folder (and maybe on another node)."""
    paths = {name: str(Path(getattr(config, name)).resolve()) for name in ("runs_dir", "traces", "cost_model")
             if getattr(config, name)}
    if config.prompt_source and Path(config.prompt_source).exists():
        paths["prompt_source"] = str(Path(config.prompt_source).resolve())
    return dataclasses.replace(config, **paths)


def plan(config: SweepConfig) -> list[PPOConfig]:
    """The runs of the sweep, each validated (a bad one fails before any run starts)."""
    if config.resume or config.save_model:
        raise ValueError("--sweep takes neither --resume (a rerun of the sweep resumes its runs) nor --save-model "
                         "(the sweep reports its best run's folder)")
    if config.num_workers < 1:
        raise ValueError(f"--num-workers must be >= 1, got {config.num_workers}")
    sweep = load_sweep(config.sweep)
    base = PPOConfig(**{f.name: getattr(config, f.name) for f in dataclasses.fields(PPOConfig)})
    base = dataclasses.replace(base, **{k: _typed(k, v) for k, v in sweep["set"].items()})
    if base.traces and base.env_id == "EBSD-v1":  # as `train` names a replay run
        base = dataclasses.replace(base, env_id="EBSD-Replay-v1")
    names = list(sweep["grid"])
    points = list(itertools.product(*(sweep["grid"][n] for n in names)))
    runs = []
    for g, point in enumerate(points):
        for seed in sweep["seeds"] or [base.seed]:
            try:
                run = dataclasses.replace(base, seed=seed, exp_name=f"{base.exp_name}-g{g}" if names else base.exp_name,
                                          **{n: _typed(n, v) for n, v in zip(names, point, strict=True)})
            except TypeError as error:
                raise ValueError(f"--sweep {config.sweep}: {error}") from None
            validate(run)
            runs.append(_absolute(run))
    return runs


def existing_run(config: PPOConfig) -> Path | None:
    """The sweep run's folder from an earlier attempt (the newest, if several), or None."""
    folders = sorted(Path(config.runs_dir).glob(f"{config.env_id}__{config.exp_name}__{config.seed}__*"))
    folders = [f for f in folders if (f / "config.json").is_file()]
    return folders[-1] if folders else None


def run_one(config: PPOConfig) -> dict:
    """Train one sweep run (or resume / reuse the earlier attempt's); its summary for the sweep."""
    folder = existing_run(config)
    if folder is None:
        folder = train(config)
    else:
        record = folder / "record.json"
        saved = _config_from_json((folder / "config.json").read_text())
        if not record.is_file() or json.loads(record.read_text())["steps"] < saved.total_timesteps:
            folder = train(dataclasses.replace(config, resume=str(folder)))
    record = json.loads((folder / "record.json").read_text())
    best = record.get("best_eval", {}).get("tokens_per_s", float("nan"))
    return {"run_dir": str(folder), "seed": config.seed, "exp_name": config.exp_name, "best_tokens_per_s": best}


def _ray_trial(params: dict, runs: list[PPOConfig]) -> None:
    from ray import tune

    result = run_one(runs[params["index"]])
    tune.report({"best_tokens_per_s": result["best_tokens_per_s"], "run_dir": result["run_dir"]})


def run_with_ray(config: SweepConfig, runs: list[PPOConfig]) -> None:
    from ray import tune

    from ebsd_env.ray_support import fit_tuner, init_ray

    init_ray(config.address)
    gpus = config.gpus_per_trial
    if gpus is None:
        gpus = 1.0 if config.device.startswith("cuda") else 0.0
    trainable = tune.with_resources(tune.with_parameters(_ray_trial, runs=runs),
                                    {"cpu": float(config.threads or 1), "gpu": gpus})
    runs_dir = Path(runs[0].runs_dir)
    tuner = tune.Tuner(trainable, param_space={"index": tune.grid_search(list(range(len(runs))))},
                       tune_config=tune.TuneConfig(max_concurrent_trials=config.num_workers),
                       run_config=tune.RunConfig(name=f"sweep-{Path(config.sweep).stem}",
                                                 storage_path=str(runs_dir / "ray"), verbose=1))
    results = fit_tuner(tuner)
    errors = [r.error for r in results if r.error is not None]
    if errors:
        raise RuntimeError(f"{len(errors)} sweep run(s) failed; the first: {errors[0]}")


def fingerprint(folder: Path) -> dict:
    """What identifies the run's result: record.json's `fingerprint` where the run wrote one, else the pair,
    clock and data its config names."""
    record = json.loads((folder / "record.json").read_text())
    if "fingerprint" in record:
        return record["fingerprint"]
    saved = json.loads((folder / "config.json").read_text())
    return {"pair": record.get("pair"), "clock": record.get("clock"),
            **{k: saved.get(k) for k in ("drafter", "verifier", "traces", "cost_model", "env_id")}}


def sweep(config: SweepConfig) -> dict:
    runs = plan(config)  # every check before Ray starts or a run folder exists
    if config.backend == "ray":
        from ebsd_env.ray_support import require_ray

        require_ray()
        run_with_ray(config, runs)
    rows = [run_one(run) for run in runs]  # after Ray, every run is finished: this only reads their record.json
    scored = [r for r in rows if not math.isnan(r["best_tokens_per_s"])]
    best = max(scored, key=lambda r: r["best_tokens_per_s"]) if scored else None
    summary = {"sweep": str(Path(config.sweep).resolve()), "backend": config.backend, "runs": rows,
               "best": best and {**best, "fingerprint": fingerprint(Path(best["run_dir"]))}}
    write_json_atomic(Path(runs[0].runs_dir) / f"sweep-{Path(config.sweep).stem}.json", summary, sort_keys=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    """`ebsd train`: a sweep with --sweep FILE, else the single run of `train.ppo`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not any(arg == "--sweep" or arg.startswith("--sweep=") for arg in argv):
        return ppo_main(argv)
    if argv and argv[0] == "ppo":
        argv = argv[1:]
    config = tyro.cli(SweepConfig, args=argv, description=__doc__, prog="ebsd train ppo --sweep")
    if not config.sweep:
        raise ValueError("give the sweep file: --sweep FILE")
    if config.backend == "ray":
        from ebsd_env.ray_support import require_ray

        require_ray()  # before the plan reads traces or checks devices
    summary = sweep(config)
    for row in summary["runs"]:
        print(f"{row['best_tokens_per_s']:10.2f}  {row['run_dir']}")
    best = summary["best"]
    if best is None:
        print("[ebsd] no run evaluated (--eval-freq 0?): no best run")
    else:
        print(f"[ebsd] best run: {best['run_dir']} ({best['best_tokens_per_s']:.2f} tokens/s at its best evaluation)"
              f"\n[ebsd] fingerprint: {json.dumps(best['fingerprint'], sort_keys=True)}")
    return 0
