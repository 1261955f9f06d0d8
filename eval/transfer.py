"""Do stopping policies carry to prompts and machines they were not trained on? The replay half of the transfer check.

    python -m eval.transfer --train-traces T --validation-traces V --test-traces X \\
        --profiles cpu=cpu.json xeon=xeon.json --held-out-profiles xeon \\
        --learned costaware=ppo:policies/trained/ppo_costaware.zip --seen costaware=cpu \\
        --tuned ucb=tuned:path=runs/tune/bandit-ucb.json --out OUT

replays, under each cost profile (a model clock: `CostModel.load`), every policy on the test traces and reports per
(category, profile) cell: the verifier alone, the static policy (fixed k ∪ k = 0) chosen on the training traces
under that profile, the best static in hindsight (chosen on the test traces themselves), every tuned rule and the
one chosen on the validation traces, every learned policy and the one chosen on the validation traces, and
oracle-dp. Every choice is made on training or validation traces under the cell's profile, never on test. Each
policy's decisions are charged at the seconds one of them takes on this machine (``decide_s`` in transfer.json),
the same under every profile: the policy runs on the host whatever prices the pair.

A cell is held out when its category is (``--holdout-categories``: no training or validation prompt of it) or its
profile is (``--held-out-profiles``); under a held-out profile the best learned policy is chosen among the learned
policies that did not train on it (``--seen LABEL=PROFILE,...`` names the profiles each one trained on), so a
policy that saw the profile cannot stand in for one that carries to it. The goals of the check, per held-out cell
and averaged over them: best learned >= 0.98 x max(verifier alone, static chosen on training), >= 0.95 x the
verifier alone, and on average >= 1.05 x the static chosen on training.

Writes OUT/transfer.json and OUT/transfer.md (the table).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import tyro

from policies.baselines import best_static

from .selection import ALL, rates_by_category

VERIFIER = "no-spec"
FLOOR, VERIFIER_FLOOR, MEAN_GAIN = 0.98, 0.95, 1.05  # the goals (issue 23, deliverable 5)


@dataclass
class TransferConfig:
    train_traces: Path
    """Traces the static policy is chosen on (the training split's)."""
    validation_traces: Path
    """Traces the tuned rule and the learned policy are chosen on (the validation split's)."""
    test_traces: Path
    """Traces every cell is measured on (the test split's)."""
    profiles: tuple[str, ...]
    """Cost profiles as NAME=PATH (a profile or model-clock JSON, `CostModel.load`)."""
    out: Path
    """Folder of transfer.json and transfer.md."""
    learned: tuple[str, ...] = ()
    """Learned policies as LABEL=SPEC (e.g. costaware=ppo:policies/trained/ppo_costaware.zip)."""
    tuned: tuple[str, ...] = ()
    """Tuned rules as LABEL=SPEC (e.g. ucb=tuned:path=runs/tune/bandit-ucb.json)."""
    seen: tuple[str, ...] = ()
    """LABEL=NAME,NAME: the profiles (by NAME) a learned policy was trained on; unlisted: none."""
    held_out_profiles: tuple[str, ...] = ()
    """Profile NAMEs held out of the training of the policies judged on them."""
    holdout_categories: tuple[str, ...] = ()
    """Categories without training or validation prompts."""
    static_ks: tuple[int, ...] = (1, 2, 3, 4, 6, 8)
    """Draft lengths of the static policies (beside k = 0, the verifier alone)."""
    max_new_tokens: int = 64
    """Token budget of each replayed episode (at most the traces')."""
    progress: bool = True
    """Progress bars."""


def _pairs(items: tuple[str, ...], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise ValueError(f"{flag} takes NAME=VALUE items, got {item!r}")
        out[name] = value
    return out


def _entries(specs: dict[str, str], kind: str) -> dict[str, dict]:
    return {label: {"spec": spec, "kind": kind} for label, spec in specs.items()}


def _rates(traces, costs, policies: dict[str, dict], name: str, max_new_tokens: int,
           decisions: dict[str, float]) -> dict[str, dict[str, float]]:
    """label -> {category: tokens/s, "all": ...} of `policies` (and oracle-dp) replayed on `traces` under `costs`,
    each policy's decisions charged at its cost in `decisions` (spec -> seconds; measured here when missing)."""
    from .verdict.replay import replay_traces

    replay = replay_traces(SimpleNamespace(max_new_tokens=max_new_tokens), traces, costs, policies, name, decisions)
    return rates_by_category(replay)


def _best(rates: dict[str, dict[str, float]], labels, key: str = ALL) -> str | None:
    scored = [(rates[label][key], label) for label in labels if math.isfinite(rates[label].get(key, math.nan))]
    return max(scored, key=lambda pair: pair[0])[1] if scored else None


def profile_cells(config: TransferConfig, name: str, costs, traces: dict, decisions: dict[str, float]) -> dict:
    """The cells of one profile: per test category (and "all") every policy's rate, the choices and the ratios;
    `decisions` as `_rates`'."""
    statics = {VERIFIER: {"spec": VERIFIER, "kind": "static"}} | {
        f"fixed-k:k={k}": {"spec": f"fixed-k:k={k}", "kind": "static"} for k in config.static_ks}
    learned = _entries(_pairs(config.learned, "--learned"), "learned")
    tuned = _entries(_pairs(config.tuned, "--tuned"), "tuned")
    seen = {label: set(names.split(",")) for label, names in _pairs(config.seen, "--seen").items()}
    held_out = name in config.held_out_profiles
    tokens = config.max_new_tokens

    train = _rates(traces["train"], costs, statics, f"train, {name}", tokens, decisions)
    static_on_train = best_static({label: train[label] for label in statics})
    validation = _rates(traces["validation"], costs, {VERIFIER: statics[VERIFIER]} | tuned | learned,
                        f"validation, {name}", tokens, decisions)
    # Under a held-out profile only the learned policies that never trained on it may be chosen.
    candidates = [label for label in learned if not (held_out and name in seen.get(label, ()))]
    chosen_learned = _best(validation, candidates)
    chosen_tuned = _best(validation, tuned)
    test = _rates(traces["test"], costs, statics | tuned | learned, f"test, {name}", tokens, decisions)
    in_hindsight = best_static({label: test[label] for label in statics})

    cells = {}
    for category in test[VERIFIER]:
        static_label = static_on_train.get(category) or static_on_train[ALL]  # a held-out category: all prompts'
        rates = {"verifier alone": test[VERIFIER][category],
                 "static chosen on training": test[static_label][category],
                 "best static in hindsight": test[in_hindsight[category]][category]}
        rates |= {f"tuned {label}": test[label][category] for label in tuned}
        rates |= {f"learned {label}": test[label][category] for label in learned}
        if chosen_tuned:
            rates["best tuned"] = test[chosen_tuned][category]
        if chosen_learned:
            rates["best learned"] = test[chosen_learned][category]
        rates["oracle-dp"] = test["oracle-dp"][category]
        cell = {"category": category, "profile": name,
                "held_out": held_out or category in config.holdout_categories,
                "held_out_category": category in config.holdout_categories, "held_out_profile": held_out,
                "static chosen on training": static_label, "best static in hindsight": in_hindsight[category],
                "best tuned": chosen_tuned, "best learned": chosen_learned,
                "learned seen profile": {label: name in seen.get(label, ()) for label in learned},
                "tokens_per_s": rates,
                "vs verifier alone": {label: rate / rates["verifier alone"] for label, rate in rates.items()}}
        cell["checks"] = cell_checks(rates)
        cells[category] = cell
    return {"profile": name, "held_out": held_out, "validation_tokens_per_s": {
        label: validation[label][ALL] for label in validation}, "train_tokens_per_s": {
        label: train[label][ALL] for label in statics}, "cells": cells}


def cell_checks(rates: dict[str, float]) -> dict:
    """The goals of one cell, as ratios with their pass marks."""
    if "best learned" not in rates:
        return {}
    learned, verifier, static = rates["best learned"], rates["verifier alone"], rates["static chosen on training"]
    floor = learned / max(verifier, static)
    over_verifier = learned / verifier
    return {"vs max(verifier, static on training)": floor, "floor met": floor >= FLOOR,
            "vs verifier alone": over_verifier, "verifier floor met": over_verifier >= VERIFIER_FLOOR,
            "vs static on training": learned / static}


def summarize_goals(profiles: list[dict]) -> dict:
    """The goals over the held-out cells (per category; the "all" rows are not cells)."""
    cells = [cell for profile in profiles for category, cell in profile["cells"].items()
             if category != ALL and cell["held_out"] and cell["checks"]]
    gains = [cell["checks"]["vs static on training"] for cell in cells]
    mean_gain = sum(gains) / len(gains) if gains else math.nan
    return {"held_out_cells": len(cells),
            "floor met": sum(cell["checks"]["floor met"] for cell in cells),
            "verifier floor met": sum(cell["checks"]["verifier floor met"] for cell in cells),
            "worst vs max(verifier, static on training)": min(
                (cell["checks"]["vs max(verifier, static on training)"] for cell in cells), default=math.nan),
            "worst vs verifier alone": min((cell["checks"]["vs verifier alone"] for cell in cells), default=math.nan),
            "mean vs static on training": mean_gain, "mean gain met": mean_gain >= MEAN_GAIN,
            "goals": {"floor": FLOOR, "verifier floor": VERIFIER_FLOOR, "mean gain": MEAN_GAIN}}


def transfer(config: TransferConfig) -> dict:
    from tqdm import tqdm

    from ebsd_env.replay import TraceSet
    from ebsd_env.timing.cost_model import CostModel

    profiles = _pairs(config.profiles, "--profiles")
    unknown = set(config.held_out_profiles) - set(profiles)
    if unknown:
        raise ValueError(f"--held-out-profiles names no --profiles entry: {sorted(unknown)}")
    costs = {name: CostModel.load(path) for name, path in profiles.items()}  # every file, before any replay
    traces = {split: TraceSet.load(getattr(config, f"{split}_traces")) for split in ("train", "validation", "test")}
    decisions: dict[str, float] = {}  # spec -> seconds per decision, measured once (the same under every profile)
    results = [profile_cells(config, name, costs[name], traces, decisions)
               for name in tqdm(profiles, desc="profiles", disable=not config.progress)]
    for result in results:
        result["path"] = profiles[result["profile"]]
    return {"profiles": results, "goals": summarize_goals(results),
            "holdout_categories": list(config.holdout_categories), "static_ks": list(config.static_ks),
            "learned": _pairs(config.learned, "--learned"), "tuned": _pairs(config.tuned, "--tuned"),
            "seen": _pairs(config.seen, "--seen"), "max_new_tokens": config.max_new_tokens,
            "decide_s": decisions,
            "traces": {split: str(getattr(config, f"{split}_traces")) for split in ("train", "validation", "test")}}


COLUMNS = ("static chosen on training", "best static in hindsight", "best tuned", "best learned", "oracle-dp")


def markdown(result: dict) -> str:
    """The table: per cell the verifier alone's tokens/s and every column as a multiple of it."""
    learned = list(result["learned"])
    head = ["category", "profile", "verifier alone tok/s", *COLUMNS, *(f"learned {label}" for label in learned),
            "floor (≥ 0.98)", "vs verifier (≥ 0.95)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for profile in result["profiles"]:
        for category, cell in profile["cells"].items():
            ratios, checks = cell["vs verifier alone"], cell["checks"]
            row = [category + (" (held out)" if cell["held_out_category"] else ""),
                   profile["profile"] + (" (held out)" if cell["held_out_profile"] else ""),
                   f"{cell['tokens_per_s']['verifier alone']:.1f}"]
            for column in COLUMNS:
                pick = cell.get(column) if column != "oracle-dp" else None
                shown = f"{ratios[column]:.3f}" if column in ratios else "–"
                row.append(f"{shown} ({pick})" if pick else shown)
            for label in learned:
                mark = " (seen)" if cell["learned seen profile"][label] else ""
                row.append(f"{ratios[f'learned {label}']:.3f}{mark}")
            row += [f"{checks['vs max(verifier, static on training)']:.3f}" + ("" if checks["floor met"] else " ✗"),
                    f"{checks['vs verifier alone']:.3f}" + ("" if checks["verifier floor met"] else " ✗")] \
                if checks else ["–", "–"]
            lines.append("| " + " | ".join(row) + " |")
    goals = result["goals"]
    lines += ["", f"Held-out cells (category or profile held out; the \"all\" rows excluded): "
              f"{goals['held_out_cells']}. Best learned ≥ 0.98 × max(verifier alone, static chosen on training) in "
              f"{goals['floor met']} (worst {goals['worst vs max(verifier, static on training)']:.3f}); ≥ 0.95 × "
              f"the verifier alone in {goals['verifier floor met']} (worst {goals['worst vs verifier alone']:.3f}); "
              f"mean best learned / static chosen on training {goals['mean vs static on training']:.3f} "
              f"(goal ≥ 1.05: {'met' if goals['mean gain met'] else 'missed'})."]
    return "\n".join(lines) + "\n"


def _k(spec: str | None) -> str:
    """fixed-k:k=2 -> k=2, no-spec -> k=0 (the short form of a static policy in the cells table)."""
    return "k=0" if spec == "no-spec" else (spec or "").removeprefix("fixed-k:")


def cells_table(result: dict) -> str:
    """The docs' table (docs/training.md): per (category, profile) cell the verifier alone's tokens/s, each
    column as a multiple of it with what was chosen, and the learned policy's floor ratio; "all" rows in bold."""
    head = ["cell (category, profile)", "verifier alone tok/s", "static chosen on train", "static in hindsight",
            "best tuned", "best learned", "oracle-dp", "learned / max(verifier, static on train)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for profile in result["profiles"]:
        for category, cell in profile["cells"].items():
            ratios, checks = cell["vs verifier alone"], cell["checks"]
            name = "**all**" if category == "all" else category + (" (held out)" if cell["held_out_category"] else "")
            where = profile["profile"] + (" (held out)" if cell["held_out_profile"] and category != "all" else "")
            row = [f"{name}, {where}", f"{cell['tokens_per_s']['verifier alone']:.1f}",
                   f"{ratios['static chosen on training']:.3f}× ({_k(cell['static chosen on training'])})",
                   f"{ratios['best static in hindsight']:.3f}× ({_k(cell['best static in hindsight'])})",
                   f"{ratios['best tuned']:.3f}× ({cell['best tuned']})",
                   f"{ratios['best learned']:.3f}× ({cell['best learned']})", f"{ratios['oracle-dp']:.3f}×",
                   f"{checks['vs max(verifier, static on training)']:.3f}" if checks else "–"]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from ebsd_env.io import write_json_atomic

    config = tyro.cli(TransferConfig, args=sys.argv[1:] if argv is None else argv, description=__doc__)
    try:
        result = transfer(config)
    except ValueError as error:
        print(f"eval.transfer: {error}", file=sys.stderr)
        return 2
    config.out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(config.out / "transfer.json", result, sort_keys=True)
    (config.out / "transfer.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
