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

A fresh test set for an experiment already made: ``--extend runs/old/split`` keeps that split's
``train.jsonl`` and ``validation.jsonl`` as they are (their traces, tuning and training can be reused) and draws
``--verdict-per-category`` test prompts from the prompts in neither (and never learned from by the drafter). Its
held-out categories stay held out; ``split.json`` names the split it extends.
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
    extend: Path | None = None
    ("keep this split folder's train.jsonl and validation.jsonl (to reuse their traces and training) and draw new test "
     "prompts from the prompts in neither; its held-out categories stay held out")


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


def read_extended(folder: Path) -> tuple[list[dict], list[dict], dict]:
    """(train rows, validation rows, split.json) of the split `--extend` names, or a one-line error naming the fix."""
    files = [folder / name for name in ("train.jsonl", "validation.jsonl", "split.json")]
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"--extend {folder}: {', '.join(missing)} missing; name a folder `ebsd split` made")
    train, validation = ([json.loads(line) for line in path.read_text().splitlines() if line.strip()]
                         for path in files[:2])
    return train, validation, json.loads(files[2].read_text())


def main(argv: list[str] | None = None) -> int:
    from ebsd_env.prompts import drafter_seen_ids, policy_split

    config = parse(SplitConfig, argv, "split", description=__doc__,
                      prog="ebsd split")
    if min(config.verdict_per_category, config.train_per_category, config.validation_per_category) < 1:
        raise ValueError("--verdict-per-category, --validation-per-category and --train-per-category must be >= 1")
    check_holdout(config.categories, config.holdout_categories)
    check_folder_path(config.out, "--out")
    if config.extend is not None:
        if config.holdout_categories:
            raise ValueError("--extend keeps the held-out categories of the split it extends: drop "
                             "--holdout-categories")
        if config.extend.resolve() == config.out.resolve():
            raise ValueError(f"--extend {config.extend} is --out: write the extended split to a new folder")
        kept_train, kept_validation, extended = read_extended(config.extend)
    pair = load_pair_from_args(config)
    if config.extend is None:
        unseen, train = policy_split(pair, config.verdict_per_category + config.validation_per_category,
                                     config.train_per_category, config.seed, config.categories)
        holdout = set(config.holdout_categories)
        test, validation = split_unseen(unseen, config.verdict_per_category, holdout)
        train = [row for row in train if row["category"] not in holdout]
    else:  # the kept prompts are out of the pool the new test prompts come from
        kept = [str(row["id"]) for row in (*kept_train, *kept_validation)]
        test, _ = policy_split(pair, config.verdict_per_category, 0, config.seed, config.categories, exclude=kept)
        holdout = set(extended.get("holdout_categories", []))
        train, validation = kept_train, kept_validation
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
    if config.extend is not None:
        summary["extends"] = {"split": str(config.extend), "drafter": extended.get("drafter"),
                              "seed": extended.get("seed"), "kept": ["train", "validation"]}
    write_json_atomic(config.out / "split.json", summary, sort_keys=True)
    print(f"[ebsd] {len(test)} test prompts, {len(validation)} validation prompts, {len(train)} training prompts "
          f"in {config.out}")
    if holdout:
        print(f"[ebsd] held out of training altogether: {', '.join(sorted(holdout))}")
    for category, n in short.items():
        print(f"[ebsd] {category}: only {n} test prompts the drafter never learned from (asked for "
              f"{config.verdict_per_category})" + ("" if config.extend else " and no validation prompts"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
