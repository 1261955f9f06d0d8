"""`ebsd split`: the prompts of a policy experiment, split so that the verdict is judged on prompts nothing
learned from.

    ebsd split --out runs/split                     # verdict.jsonl, train.jsonl, split.json

``verdict.jsonl``: per category up to ``--verdict-per-category`` built-in suite prompts that neither the drafter
(its held-out prompts first, then prompts its training never selected) nor any policy sees before the verdict.
``train.jsonl``: up to ``--train-per-category`` other prompts per category, for `ebsd record` (training traces),
`ebsd tune` and `ebsd train ppo`. Both are prompt files every command reads with ``--prompt-source``.

Domain shift: ``--holdout-categories translation`` (leave-one-category-out; several names hold out several)
keeps whole categories out of ``train.jsonl``: their prompts are in the verdict only, so it can say how a
policy does on a kind of text it never saw, beside the held-out prompts of the categories it trained on.
``split.json`` records which categories are held out and, per verdict category, what was held out of it.
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
    """Folder for verdict.jsonl, train.jsonl and split.json."""
    verdict_per_category: int = 10
    """Verdict prompts per category (fewer where the drafter left fewer unseen)."""
    train_per_category: int = 16
    """Training prompts per category."""
    seed: Annotated[int, tyro.conf.arg(name="prompt-seed")] = 0
    """Seeds the samples (and the numbers of the generated math problems)."""
    categories: tuple[str, ...] | None = None
    """Only these built-in categories."""
    holdout_categories: tuple[str, ...] = ()
    """Whole categories left out of training (leave-one-category-out: one name); they appear in the verdict only."""


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


def main(argv: list[str] | None = None) -> int:
    from ebsd_env.prompts import drafter_seen_ids, policy_split

    config = parse(SplitConfig, argv, "split", description=__doc__,
                      prog="ebsd split")
    if config.verdict_per_category < 1 or config.train_per_category < 1:
        raise ValueError("--verdict-per-category and --train-per-category must be >= 1")
    check_holdout(config.categories, config.holdout_categories)
    check_folder_path(config.out, "--out")
    pair = load_pair_from_args(config)
    verdict, train = policy_split(pair, config.verdict_per_category, config.train_per_category, config.seed,
                                  config.categories)
    holdout = set(config.holdout_categories)
    train = [row for row in train if row["category"] not in holdout]
    config.out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("verdict", verdict), ("train", train)):
        write_atomic(config.out / f"{name}.jsonl", "".join(json.dumps(row, sort_keys=True) + "\n"
                                                                 for row in rows))
    counts = {name: dict(collections.Counter(row["category"] for row in rows))
              for name, rows in (("verdict", verdict), ("train", train))}
    short = {c: n for c, n in counts["verdict"].items() if n < config.verdict_per_category}
    summary = {"drafter": pair.drafter_name, "verifier": pair.verifier_name, "seed": config.seed,
               "drafter_training_record": drafter_seen_ids(pair) is not None, "counts": counts,
               "short_categories": short, "holdout_categories": sorted(holdout),
               # What the verdict's prompts of each category were held out of: the training prompts of their
               # category (prompts), or training altogether (category).
               "verdict_holdout": {category: "category" if category in holdout else "prompts"
                                   for category in counts["verdict"]}}
    write_json_atomic(config.out / "split.json", summary, sort_keys=True)
    print(f"[ebsd] {len(verdict)} verdict prompts, {len(train)} training prompts in {config.out}")
    if holdout:
        print(f"[ebsd] held out of training altogether: {', '.join(sorted(holdout))}")
    for category, n in short.items():
        print(f"[ebsd] {category}: only {n} prompts the drafter never learned from (asked for "
              f"{config.verdict_per_category})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
