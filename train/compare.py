"""Side-by-side record of a trained PPO policy against the best fixed-k and the best tuned rule, per category.

Runs the PPO model file through the policy registry (`make_policy("ppo:...")`) on the run's held-in prompts,
in the run's environment (same cost model, prompts and settings), and sets it beside the fixed-k baselines of
the run's evaluation callback (`eval.json`) and the tuned rules of an `ebsd tune` result (same prompts and
cost model when tuned with `--cost-model <run>/cost_model.json` and the run's prompt settings). Writes JSON and
a Markdown table.

    python -m train.compare runs/EBSD-v1__ppo__1__1764400000 --model runs/EBSD-v1__ppo__1__1764400000/best_model.zip \\
        --tune runs/tune/best_entropy_abs.json --out runs/EBSD-v1__ppo__1__1764400000/comparison
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import tyro

from ebsd_env.io import write_atomic, write_json_atomic
from policies.baselines import best_static, is_static

from .common import held_in_indices, run_policy, summarize


@dataclass
class CompareConfig:
    run: tyro.conf.Positional[str]
    """Run folder written by `ebsd train ppo` (its config, cost model and eval.json are used)."""
    model: str | None = None
    """PPO model file (default: the run's best_model.zip)."""
    tune: str | None = None
    """Best-configuration JSON written by `ebsd tune` on the same prompts and cost model."""
    out: str | None = None
    """Output stem: writes `<out>.json` and `<out>.md` (default: `comparison` in the run folder)."""
    target: float = 1.10
    """Speed-up over the best fixed-k a category must reach to count as a win."""


def _ratio(a: float, b: float) -> float:
    return a / b if b and math.isfinite(a) and math.isfinite(b) else float("nan")


def compare(config: CompareConfig) -> dict:
    import gymnasium as gym
    import torch

    from ebsd_env.cli.args import load_pair_from_args
    from policies import make_policy

    from .common import load_prompt_rows
    from .ppo import _config_from_json, env_kwargs

    torch.set_num_threads(1)
    run_dir = Path(config.run)
    run = _config_from_json((run_dir / "config.json").read_text())
    evaluation = json.loads((run_dir / "eval.json").read_text())
    model = Path(config.model) if config.model else run_dir / "best_model.zip"
    pair = load_pair_from_args(run)
    prompts = load_prompt_rows(run.prompt_source, run.categories, run.prompts_per_category, run.prompt_seed)
    env = gym.make(run.env_id, **env_kwargs(run, pair, prompts, str(run_dir / "cost_model.json")))
    indices = held_in_indices(prompts, run.eval_prompts_per_category)
    ppo = summarize(run_policy(env, make_policy(f"ppo:{model}", env=env), indices, seed=run.seed))

    fixed = {s: b for s, b in evaluation["baselines"].items() if is_static(s)}  # fixed-k ∪ k = 0 (no-spec)
    verifier = evaluation["baselines"]["no-spec"]["tokens_per_s"]
    tuned = json.loads(Path(config.tune).read_text())["best"] if config.tune else {}
    rows = {}
    for category in [*ppo["per_category"], "overall"]:
        def value(summary, category=category):
            return summary["tokens_per_s"] if category == "overall" else summary["per_category"][category][
                "tokens_per_s"]

        ppo_tps = value(ppo)
        best_k = best_static({s: {category: value(fixed[s])} for s in fixed})[category]
        row = {"ppo": ppo_tps, "best_fixed_k": best_k, "best_fixed_k_tokens_per_s": value(fixed[best_k]),
               "speedup_vs_best_fixed_k": _ratio(ppo_tps, value(fixed[best_k])),
               "speedup_vs_verifier": _ratio(ppo_tps, verifier),
               "ppo_mean_draft_len": (ppo if category == "overall" else ppo["per_category"][category])[
                   "mean_draft_len"]}
        if "overall" in tuned:
            row["tuned_overall_spec"] = tuned["overall"]["spec"]
            row["tuned_overall_tokens_per_s"] = (tuned["overall"]["tokens_per_s"] if category == "overall" else
                                                 tuned["overall"]["per_category"][category]["tokens_per_s"])
            row["speedup_vs_tuned_overall"] = _ratio(ppo_tps, row["tuned_overall_tokens_per_s"])
        if category in tuned and category != "overall":
            row["tuned_category_spec"] = tuned[category]["spec"]
            row["tuned_category_tokens_per_s"] = tuned[category]["tokens_per_s"]
            row["speedup_vs_tuned_category"] = _ratio(ppo_tps, tuned[category]["tokens_per_s"])
        rows[category] = row

    categories = [c for c in rows if c != "overall"]
    wins = [c for c in categories if rows[c]["speedup_vs_best_fixed_k"] >= config.target]
    result = {"run": run_dir.name, "model": str(model), "clock": run.clock, "verifier_tokens_per_s": verifier,
              "prompts": len(indices), "rows": rows,
              "goal_fixed_k": {"target": config.target, "categories_won": wins, "categories": len(categories),
                               "met": len(wins) * 2 >= len(categories)},
              "goal_tuned": ({"met": rows["overall"]["speedup_vs_tuned_overall"] >= 1.0}
                             if "overall" in tuned else None)}
    stem = Path(config.out) if config.out else run_dir / "comparison"
    write_json_atomic(stem.with_suffix(".json"), result, sort_keys=True)
    write_atomic(stem.with_suffix(".md"), markdown(result))
    return result


def markdown(result: dict) -> str:
    lines = ["| category | PPO tok/s | PPO draft len | best fixed-k | tok/s | PPO / fixed-k | tuned (overall) tok/s "
             "| PPO / tuned | tuned per category tok/s | PPO / tuned cat. |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    nan = float("nan")
    for category, r in result["rows"].items():
        cells = [category, f"{r['ppo']:.2f}", f"{r['ppo_mean_draft_len']:.2f}",
                 r["best_fixed_k"].removeprefix("fixed-k:"),
                 f"{r['best_fixed_k_tokens_per_s']:.2f}", f"{r['speedup_vs_best_fixed_k']:.3f}",
                 f"{r.get('tuned_overall_tokens_per_s', nan):.2f}", f"{r.get('speedup_vs_tuned_overall', nan):.3f}",
                 f"{r.get('tuned_category_tokens_per_s', nan):.2f}", f"{r.get('speedup_vs_tuned_category', nan):.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    goal = result["goal_fixed_k"]
    lines += ["", f"Verifier alone: {result['verifier_tokens_per_s']:.2f} tokens/s ({result['clock']} clock). "
              f"PPO reaches >= {goal['target']:.2f}x the best fixed-k on {len(goal['categories_won'])} of "
              f"{goal['categories']} categories (goal met: {goal['met']})."]
    if result["goal_tuned"] is not None:
        lines.append(f"PPO matches or beats the best tuned rule overall: {result['goal_tuned']['met']}.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    result = compare(tyro.cli(CompareConfig, args=argv, description=__doc__, prog="python -m train.compare"))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
