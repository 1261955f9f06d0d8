"""What the verdict chooses, and on which prompts: every choice on the validation split, none on the test split.

`ebsd split` gives three disjoint sets of prompts: ``train`` (traces for tuning and PPO), ``validation`` and
``test``. The verdict replays every candidate (every static policy, every tuned rule, every PPO run and seed) on
the validation traces and `choose` makes every choice from that replay alone:

- the best static policy per category (`policies.baselines.best_static`: fixed-k ∪ k = 0);
- the tuned rule of each family (entropy rules, field rules, bandits) run live, and the best of them;
- the seed of each PPO variant, and the best variant (the "best learned" policy).

The test prompts are then decoded once, live, for the final numbers; the report sets the best static in
hindsight (chosen on the test prompts themselves) beside the chosen one, labelled as such.

A category held out of training altogether (``--holdout-categories``) has no validation prompts, so that neither
training nor selection sees it: its per-category choices fall back to the choice made on all validation prompts.
"""

from __future__ import annotations

from collections.abc import Mapping

from policies.baselines import best_static, units_rate

ENTROPY_RULES = ("entropy-abs", "entropy-rel", "entropy-window", "entropy-pos")
BANDITS = ("bandit-ucb", "bandit-exp3")
ALL = "all"  # the key of a rate over every prompt of the split


def rates_by_category(replay: Mapping) -> dict[str, dict[str, float]]:
    """label -> {category: objective, "all": objective} of a replay file (``policies[label]["per_prompt"]``,
    ``categories``: prompt id -> category)."""
    categories = replay["categories"]
    groups: dict[str, list[str]] = {}
    for prompt_id, category in categories.items():
        groups.setdefault(category, []).append(prompt_id)
    out = {}
    for label, entry in replay["policies"].items():
        units = entry["per_prompt"]
        out[label] = {category: units_rate(units, ids) for category, ids in groups.items()}
        out[label][ALL] = units_rate(units, categories)
    return out


def _best(rates: Mapping[str, Mapping[str, float]], labels, key: str = ALL) -> str | None:
    scored = [(rates[label][key], label) for label in labels if label in rates and key in rates[label]]
    scored = [pair for pair in scored if pair[0] == pair[0]]  # nan never wins
    return max(scored, key=lambda pair: pair[0])[1] if scored else None


def choose(validation: Mapping, tuned_rules: list[str], ppo_runs: list[dict], test_categories: list[str]) -> dict:
    """Every choice of the verdict, made on the validation replay `validation` (a replay file's content).

    `tuned_rules`: the rules `ebsd tune` tuned (their replay labels are ``tuned RULE (category)``); `ppo_runs`:
    ``{"variant", "seed"}`` of each run (replay label ``ppo VARIANT seed SEED``); `test_categories`: the test
    split's categories (each gets a per-category choice, from its validation prompts or, without any, from all).
    Live labels: ``tuned RULE`` and ``ppo VARIANT``."""
    rates = rates_by_category(validation)
    categories = sorted(set(validation["categories"].values()))
    per_category = {c: sum(1 for x in validation["categories"].values() if x == c) for c in categories}

    def category_choice(picks: Mapping[str, str | None]) -> dict[str, str | None]:
        return {c: picks.get(c) or picks.get(ALL) for c in test_categories}

    static = best_static(rates)  # the static labels among them: fixed-k ∪ k = 0
    tuned_label = {rule: f"tuned {rule} (category)" for rule in tuned_rules}
    families = {"entropy rule": [r for r in tuned_rules if r in ENTROPY_RULES],
                "bandit": [r for r in tuned_rules if r in BANDITS],
                "field rule": [r for r in tuned_rules if r not in ENTROPY_RULES and r not in BANDITS]}
    tuned = {}  # family -> rule
    for family, rules in families.items():
        best = _best(rates, [tuned_label[r] for r in rules])
        if best is not None:
            tuned[family] = next(r for r in rules if tuned_label[r] == best)
    seeds: dict[str, int] = {}
    for variant in dict.fromkeys(run["variant"] for run in ppo_runs):
        labels = {f"ppo {variant} seed {run['seed']}": run["seed"] for run in ppo_runs if run["variant"] == variant}
        best = _best(rates, labels)
        if best is not None:
            seeds[variant] = labels[best]
    # Live label -> its replay label on the validation traces.
    live_rates = {f"tuned {rule}": rates[tuned_label[rule]] for rule in tuned.values()}
    live_rates |= {f"ppo {variant}": rates[f"ppo {variant} seed {seed}"] for variant, seed in seeds.items()}
    learned = [label for label in live_rates if label.startswith("ppo ")]
    tuned_live = [label for label in live_rates if label.startswith("tuned ")]
    return {
        "split": "validation", "prompts": len(validation["categories"]), "prompts_per_category": per_category,
        "best_static": category_choice(static),
        "tuned_rules": tuned, "ppo_seeds": seeds,
        "best_learned": _best(live_rates, learned), "best_tuned": _best(live_rates, tuned_live),
        "best_tuned_per_category": category_choice(
            {c: _best(live_rates, tuned_live, c) for c in [*categories, ALL]}),
        "validation_tokens_per_s": {label: r[ALL] for label, r in sorted(live_rates.items())},
    }

