"""`ebsd eval`: stopping policies x prompts (x seeds x temperatures) through the real environment and decoder.

Writes, under ``--out``:

- ``episodes.jsonl``: one row per (variant, prompt, seed, temperature, max_new_tokens) with every raw
  measurement (episode statistics, output ids, per-block draft/accept/timing/entropies, the verifier's NLL
  of sampled outputs). Rows are appended with flush + fsync, so an interrupted run loses at most the row in
  flight; rerunning with the same ``--out`` skips finished rows (a torn last line is dropped).
- ``summary.json`` (atomic): the metrics, comparisons, hypotheses and success criteria (`eval.analysis`).
- ``report.md`` with PNG plots under ``plots/``, and the same scalars as TensorBoard events under ``tb/``.

With no arguments: a short evaluation on the embedded verifier and the built-in offline suite (7 categories x 2
prompts x 13 policies x 64 new tokens): on the CPU the pair is int4+feature+ngram (`config.with_default_pair`),
where the single-drafter policies draft with int4 and the shipped multi-drafter PPO and the cascade choose a
drafter per block, all ranked together; the prompts are then those the feature drafter never trained on.

The rooms of the command: `config` (its flags), `plan` (variants x conditions, the ablations), `checks` (bad
input refused before any model), `episodes` (the episode loop and its rows, `rows`), `results` (summary, report,
the lossy reference) and `drafters` (`--drafters`' comparison). This module holds the command itself and
re-exports their public names, so ``from eval.run import NAME`` keeps working.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

from ebsd_env.cli.args import load_pair_from_args, parse
from ebsd_env.io import write_atomic, write_json_atomic

from .checks import check_policies, validate
from .config import (
    DEFAULT_MULTI_DRAFTERS,
    DEFAULT_MULTI_POLICIES,
    DEFAULT_POLICIES,
    ENV_KEYS,
    EvalConfig,
    default_out,
    with_default_pair,
)
from .drafters import compare_drafters, drafters_markdown, fastest_drafter
from .episodes import BlockRecorder, charge_decisions, run_in, verifier_nll
from .plan import ABLATIONS, BASELINES, ENTROPY_TYPE_GRID, Condition, Plan, Variant, build_plan
from .results import finish, lossy_row, run_meta
from .rows import append_row, read_rows, row_key

__all__ = ["ABLATIONS", "BASELINES", "DEFAULT_MULTI_DRAFTERS", "DEFAULT_MULTI_POLICIES", "DEFAULT_POLICIES",
           "ENTROPY_TYPE_GRID", "ENV_KEYS", "BlockRecorder", "Condition", "EvalConfig", "Plan", "Variant", "append_row",
           "build_plan", "charge_decisions", "check_policies", "compare_drafters", "default_out", "drafters_markdown",
           "evaluate", "evaluate_drafters", "fastest_drafter", "finish", "lossy_row", "main", "read_rows", "row_key",
           "run_meta", "validate", "verifier_nll", "with_default_pair"]


def evaluate(config: EvalConfig, pair=None, held_out: set[str] | None = None) -> Path:
    """Run (or resume) the evaluation described by `config`; return the output folder. `held_out`: evaluate
    the built-in suite's prompts of these ids (default: the drafter's own held-out prompts, if it has any)."""
    import torch

    from ebsd_env.cli.args import check_threads
    from ebsd_env.decoding.kernels import configure_threads

    check_threads(config)  # in the flag's own words, before torch is set
    previous = torch.get_num_threads()
    configure_threads(config.threads)
    try:
        return _evaluate(config, pair, held_out)
    finally:  # the caller's thread setting comes back (tests and notebooks run other work afterwards)
        torch.set_num_threads(previous)


def evaluate_drafters(config: EvalConfig) -> Path:
    """`--drafters`: the same evaluation for each drafter, on the prompts none of them was trained on, and a
    side-by-side comparison (`drafters.json`, `drafters.md`)."""
    from ebsd_env.prompts import common_heldout_ids

    names = list(dict.fromkeys(config.drafters))
    if config.tiny is not None:
        raise ValueError("--drafters needs real drafters by name; it cannot be combined with a tiny --pair")
    validate(config)
    check_policies(build_plan(config))
    out = Path(config.out) if config.out else default_out(config)
    pairs = {name: load_pair_from_args(replace(config, drafter=name, drafters=())) for name in names}
    held_out = common_heldout_ids(pairs.values())
    folders = {}
    for name, pair in pairs.items():
        sub = replace(config, drafters=(), drafter=name, out=str(out / f"drafter={name.replace('/', '_')}"))
        folders[name] = evaluate(sub, pair=pair, held_out=held_out)
    comparison = compare_drafters({name: json.loads((folder / "summary.json").read_text())
                                   for name, folder in folders.items()})
    write_json_atomic(out / "drafters.json", comparison)
    write_atomic(out / "drafters.md", drafters_markdown(comparison))
    return out


def _evaluate(config: EvalConfig, pair, held_out: set[str] | None = None) -> Path:
    import ebsd_env  # noqa: F401  (registers EBSD-v1)
    from ebsd_env.prompts import drafter_heldout_ids

    if pair is None:  # a pair given as an object is the pair: its config says nothing to choose
        config, chosen = with_default_pair(config)
    else:
        chosen = None
    validate(config)
    plan = build_plan(config)
    if chosen:
        plan.notes.append(chosen)
    probes = check_policies(plan)  # what each policy needs of its env
    file_prompts = _file_prompts(config)  # read (or refused) before any model is loaded
    if pair is None:
        pair = load_pair_from_args(config, pair=f"tiny-{config.tiny}" if config.tiny else None)
    if held_out is None:
        held_out = drafter_heldout_ids(pair)
    prompts = file_prompts if file_prompts is not None else _suite_prompts(config, held_out, plan)
    out = Path(config.out) if config.out else default_out(config)
    created = not out.exists()
    existed = set() if created else set(out.iterdir())
    out.mkdir(parents=True, exist_ok=True)
    try:
        return run_in(out, config, pair, plan, probes, prompts)
    except BaseException:
        _remove_refused_run(out, created, existed)
        raise


def _per_category(config: EvalConfig) -> int | None:
    """--prompts-per-category as `load_prompts` takes it: None for all."""
    return config.limit_per_category if config.limit_per_category and config.limit_per_category > 0 else None


def _file_prompts(config: EvalConfig) -> list[dict] | None:
    """The prompts of a file or a benchmark (--prompt-source); None for the built-in suite."""
    from ebsd_env.prompts import load_prompts

    if config.prompts == "builtin":
        return None
    return load_prompts(config.prompts, categories=config.categories, limit_per_category=_per_category(config),
                        seed=config.seeds[0])


def _suite_prompts(config: EvalConfig, held_out: set[str], plan: Plan) -> list[dict]:
    """The built-in suite's prompts: a drafter trained by `ebsd distill` is evaluated on the suite prompts it never
    saw, its held-out ones (the plan's notes say so)."""
    from ebsd_env.prompts import heldout_prompts, load_prompts

    if held_out:
        prompts = heldout_prompts(held_out, categories=config.categories, limit_per_category=_per_category(config))
        plan.notes.append(f"prompts: {len(prompts)} of the drafter's held-out prompts (never its training prompts)")
        return prompts
    return load_prompts(None, categories=config.categories, limit_per_category=_per_category(config),
                        seed=config.seeds[0])


def _remove_refused_run(out: Path, created: bool, existed: set[Path]) -> None:
    """A run refused before its first episode row (a calibration that fails, a policy that will not bind) leaves
    nothing behind (a folder it made, or run.json and the rest in one that was there), so the corrected rerun
    does not meet a stale run.json."""
    episodes = out / "episodes.jsonl"
    if not (episodes.is_file() and episodes.stat().st_size):
        for path in [out] if created else sorted(set(out.iterdir()) - existed):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    config = parse(EvalConfig, argv, "eval", prog="ebsd eval")
    if config.drafters:
        out = evaluate_drafters(config)
        print(f"[ebsd eval] wrote one evaluation per drafter under {out} and the comparison {out / 'drafters.md'}")
        return 0
    out = evaluate(config)
    print(f"[ebsd eval] wrote {out / 'episodes.jsonl'}, {out / 'summary.json'} and {out / 'report.md'}")
    return 0
