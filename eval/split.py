"""`ebsd split`: the prompts of a policy experiment, split so that every choice is made before the verdict is
judged, on prompts nothing learned from.

    ebsd split --out runs/split                     # train.jsonl, validation.jsonl, test.jsonl, split.json

``test.jsonl``: per category up to ``--verdict-per-category`` built-in suite prompts that neither the drafter
(its held-out prompts first, then prompts its training never selected) nor any policy sees before the verdict;
they are decoded once, for the final numbers. ``validation.jsonl``: per category up to
``--validation-per-category`` further prompts of the same unseen pool, disjoint from the test prompts: every
choice of the verdict (PPO variant and seed, tuned rule, best static k, "best" anything) is made on them.
``train.jsonl``: up to ``--train-per-category`` other prompts per category, for `ebsd record` (training traces),
`ebsd tune` and `ebsd train ppo`. All three are prompt files every command reads with ``--prompt-source``; no
prompt is in two of them. Where a category's unseen pool is short, the test prompts are served first.

Domain shift: ``--holdout-categories translation`` (leave-one-category-out; several names hold out several)
keeps whole categories out of ``train.jsonl`` and out of ``validation.jsonl``: their prompts are in the test
set only, so neither training nor any choice saw that kind of text, and the verdict can say how a policy does on
it, beside the held-out prompts of the categories it trained on (the verdict's per-category choices for a
held-out category are the ones made on all validation prompts). ``split.json`` records which categories are
held out and, per test category, what was held out of it.
"""

from __future__ import annotations

import collections
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import tyro

from ebsd_env.cli.args import PairArgs, load_pair_from_args, parse
from ebsd_env.io import check_folder_path, write_atomic, write_json_atomic


@dataclass
class SplitConfig(PairArgs):
    out: Path = Path("runs/split")
    """Folder for train.jsonl, validation.jsonl, test.jsonl and split.json."""
    verdict_per_category: int = 10
    """Test (verdict) prompts per category (fewer where the drafter left fewer unseen)."""
    validation_per_category: int = 5
    """Validation prompts per category: every choice of the verdict is made on them (none in a held-out category)."""
    train_per_category: int = 16
    """Training prompts per category."""
    seed: Annotated[int, tyro.conf.arg(name="prompt-seed")] = 0
    """Seeds the samples (and the numbers of the generated math problems)."""
    categories: tuple[str, ...] | None = None
    """Only these built-in categories."""
    holdout_categories: tuple[str, ...] = ()
    """Whole categories left out of training and validation (leave-one-category-out: one name): test prompts only."""


def check_holdout(categories: tuple[str, ...] | None, holdout: tuple[str, ...]) -> None:
    """A one-line error for held-out categories that are unknown, outside --categories, or all of them."""
    from ebsd_env.prompts import BUILTIN_CATEGORIES

    chosen = list(categories) if categories is not None else list(BUILTIN_CATEGORIES)
    unknown = [name for name in holdout if name not in chosen]
    if unknown:
        raise ValueError(f"--holdout-categories: {', '.join(unknown)} not among the split's categories; valid: "
                         f"{', '.join(chosen)}")
    if set(chosen) <= set(holdout):
        raise ValueError(f"--holdout-categories holds out every category ({', '.join(chosen)}), which leaves "
                         "nothing to train on: hold out fewer, e.g. one (leave-one-category-out)")


def split_unseen(unseen: list[dict], test_per_category: int, holdout: set[str]) -> tuple[list[dict], list[dict]]:
    """(test rows, validation rows) of the unseen prompts (`policy_split`'s first list, in its order per
    category: the drafter's held-out prompts first): the first `test_per_category` of each category are test
    prompts, the rest validation prompts, except in a held-out category, which gives no validation prompts."""
    test, validation, taken = [], [], collections.Counter()
    for row in unseen:
        category = row["category"]
        if taken[category] < test_per_category:
            test.append(row)
        elif category not in holdout:
            validation.append(row)
        taken[category] += 1
    return test, validation


def main(argv: list[str] | None = None) -> int:
    from ebsd_env.prompts import drafter_seen_ids, policy_split

    config = parse(SplitConfig, argv, "split", description=__doc__,
                      prog="ebsd split")
    if min(config.verdict_per_category, config.train_per_category, config.validation_per_category) < 1:
        raise ValueError("--verdict-per-category, --validation-per-category and --train-per-category must be >= 1")
    check_holdout(config.categories, config.holdout_categories)
    check_folder_path(config.out, "--out")
    pair = load_pair_from_args(config)
    unseen, train = policy_split(pair, config.verdict_per_category + config.validation_per_category,
                                 config.train_per_category, config.seed, config.categories)
    holdout = set(config.holdout_categories)
    test, validation = split_unseen(unseen, config.verdict_per_category, holdout)
    train = [row for row in train if row["category"] not in holdout]
    config.out.mkdir(parents=True, exist_ok=True)
    sets = {"train": train, "validation": validation, "test": test}
    for name, rows in sets.items():
        write_atomic(config.out / f"{name}.jsonl", "".join(json.dumps(row, sort_keys=True) + "\n"
                                                                 for row in rows))
    counts = {name: dict(collections.Counter(row["category"] for row in rows)) for name, rows in sets.items()}
    short = {c: n for c, n in counts["test"].items() if n < config.verdict_per_category}
    summary = {"drafter": pair.drafter_name, "verifier": pair.verifier_name, "seed": config.seed,
               "drafter_training_record": drafter_seen_ids(pair) is not None, "counts": counts,
               "short_categories": short, "holdout_categories": sorted(holdout),
               # What the test prompts of each category were held out of: the training and validation prompts of
               # their category (prompts), or training and validation altogether (category).
               "verdict_holdout": {category: "category" if category in holdout else "prompts"
                                   for category in counts["test"]},
               "used_for": {"train": "ebsd record, ebsd tune, ebsd train ppo",
                            "validation": "every choice of the verdict (eval.selection)",
                            "test": "the final numbers, once"}}
    write_json_atomic(config.out / "split.json", summary, sort_keys=True)
    print(f"[ebsd] {len(test)} test prompts, {len(validation)} validation prompts, {len(train)} training prompts "
          f"in {config.out}")
    if holdout:
        print(f"[ebsd] held out of training altogether: {', '.join(sorted(holdout))}")
    for category, n in short.items():
        print(f"[ebsd] {category}: only {n} test prompts the drafter never learned from (asked for "
              f"{config.verdict_per_category}) and no validation prompts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
