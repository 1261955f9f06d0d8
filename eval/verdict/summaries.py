"""What the verdict's report reads from the experiment's other records: the test replay (shares of oracle-dp,
the spread over PPO seeds, the headroom per category), the PPO runs' training, and which prompts served what."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .experiment import RUN_NAME


def rate(units: dict, ids) -> float:
    """The objective of ``{prompt id: (tokens, seconds)}`` over `ids` (`policies.baselines.units_rate`)."""
    from policies.baselines import units_rate

    return units_rate(units, ids)


def summarize_replay(out: Path) -> dict:
    """Shares of oracle-dp on the test traces (model clock): every policy, and per PPO variant the mean and the
    spread over seeds (a t interval over the seeds' shares) and the share of the seed chosen on validation."""
    from scipy import stats

    data = json.loads((out / "replay.json").read_text())
    policies = data["policies"]
    ids = list(data["categories"])
    oracle = rate(policies["oracle-dp"]["per_prompt"], ids)
    shares = {label: rate(entry["per_prompt"], ids) / oracle for label, entry in policies.items()}
    variants: dict[str, dict] = {}
    for label, entry in policies.items():
        if entry["kind"] == "ppo":
            variants.setdefault(entry["variant"], {})[entry["seed"]] = shares[label]
    summary = {}
    seeds = json.loads((out / "selection.json").read_text())["ppo_seeds"]  # chosen on validation
    for variant, by_seed in variants.items():
        values = np.asarray(list(by_seed.values()))
        half = (stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
                if len(values) > 1 else float("nan"))
        chosen_seed = seeds[variant]
        summary[variant] = {"seeds": {str(k): v for k, v in sorted(by_seed.items())}, "mean": float(values.mean()),
                            "ci": [float(values.mean() - half), float(values.mean() + half)],
                            "best_seed_share": by_seed[chosen_seed], "chosen_seed": chosen_seed}
    return {"oracle_dp_tokens_per_s": oracle, "oracle_dp_stop_mode": policies["oracle-dp"]["stop_mode"],
            "shares": dict(sorted(shares.items(), key=lambda kv: -kv[1])), "variants": summary,
            "headroom": headroom(data)}


def headroom(replay: dict) -> dict:
    """Per category of a replay file: the most any stopping policy could gain over the best static one on this
    clock, oracle-dp's objective over the best static policy's (the ceiling of the "learned / best static" goal),
    and what the best PPO run and the best tuned rule got. The best static here is the one in hindsight (the
    fastest on these traces, `policies.baselines.best_static`): the ceiling is not inflated."""
    from policies.baselines import best_static

    policies, ids = replay["policies"], list(replay["categories"])
    headroom = {}
    for category in dict.fromkeys(replay["categories"].values()):
        cat_ids = [i for i in ids if replay["categories"][i] == category]
        best_oracle = rate(policies["oracle-dp"]["per_prompt"], cat_ids)
        static = {label: rate(entry["per_prompt"], cat_ids) for label, entry in policies.items()
                  if entry["kind"] == "static"}
        best = best_static({label: {category: value} for label, value in static.items()})[category]
        learned = {label: rate(entry["per_prompt"], cat_ids) for label, entry in policies.items()
                   if entry["kind"] == "ppo"}
        tuned = {label: rate(entry["per_prompt"], cat_ids) for label, entry in policies.items()
                 if entry["kind"] == "tuned"}
        headroom[category] = {"best_static": best, "oracle_vs_best_static": best_oracle / static[best],
                              "best_ppo_vs_best_static": max(learned.values()) / static[best] if learned else None,
                              "best_tuned_vs_best_static": max(tuned.values()) / static[best] if tuned else None}
    return headroom


def training_summary(out: Path) -> list[dict]:
    """Every finished PPO run of the experiment (``ppo/`` and another drafter's ``ppo-<drafter>/``): its budget,
    its best held-in replay evaluation, the step its evaluations came within 0.5 % of that best (how soon it
    plateaued), and its periodic live evaluations where it ran them."""
    runs = []
    for record_path in sorted(out.glob("ppo*/*/record.json")):
        folder = record_path.parent
        match = RUN_NAME.match(folder.name)
        record = json.loads(record_path.read_text())
        if not match or "best_eval" not in record:
            continue
        history = json.loads((folder / "eval.json").read_text())["evaluations"]
        best = max(e["tokens_per_s"] for e in history)
        row = {"run": folder.name, "variant": match["variant"], "seed": int(match["seed"]),
               "drafter": (record.get("fingerprint") or {}).get("pair", {}).get("drafter"),
               "steps": record["steps"], "wall_s": record["wall_s"],
               "held_in_vs_verifier": record["best_eval"]["speedup_vs_verifier"],
               "held_in_vs_best_fixed_k": record["best_eval"]["speedup_vs_best_fixed_k"],
               "plateau_step": next(e["step"] for e in history if e["tokens_per_s"] >= 0.995 * best)}
        if (folder / "live_eval.json").is_file():
            live_log = json.loads((folder / "live_eval.json").read_text())
            row["live"] = [{k: e[k] for k in ("step", "speedup_vs_verifier", "speedup_vs_best_fixed_k")}
                           for e in live_log["evaluations"]]
        runs.append(row)
    return runs


def selection_record(out: Path, selection: dict, test_prompts: int) -> dict:
    """Which prompts were used for what: the report's "Selection" section."""
    split = out / "split" / "split.json"
    counts = json.loads(split.read_text()).get("counts", {}) if split.is_file() else {}
    return {"train": {"prompts": sum(counts.get("train", {}).values()),
                      "used_for": "tuning (ebsd tune) and PPO training, including each run's best-model choice"},
            "validation": {"prompts": selection["prompts"], "per_category": selection["prompts_per_category"],
                           "used_for": "every choice: best static per category (fixed-k ∪ k = 0), the tuned rule of "
                                       "each family, the seed of each PPO variant, the best learned and best tuned "
                                       "policy (replay of the validation traces, model clock)"},
            "test": {"prompts": test_prompts,
                     "used_for": "once, for the final numbers (live, wall clock) and the shares of oracle-dp "
                                 "(replay); the best static in hindsight is chosen on it and labelled so"},
            "choices": {key: selection[key] for key in ("best_static", "tuned_rules", "ppo_seeds", "best_learned",
                                                         "best_tuned", "best_tuned_per_category")}}
