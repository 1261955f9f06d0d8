"""Prompt sources for the environment and the evaluation: one schema, ``{id, category, prompt | turns}``.

``load_prompts(None)`` is the built-in offline suite (`builtin`: seven categories), read through one loader that
checks every source file's SHA-256 (`sources`: small files vendored in this package with their licences, large
ones read from pip packages installed by `scripts/setup.sh`). Other sources (`files`): a local ``.jsonl`` /
``.json`` / ``.csv`` / ``.parquet`` file whose rows have a ``category`` and either ``prompt`` or ``turns``
(MT-bench / Spec-Bench style), or a Hugging Face dataset id from `HF_DATASETS` (``gsm8k``, ``cnn_dailymail``,
...), optionally pointed at a local copy with ``name=PATH`` (a folder written by ``Dataset.save_to_disk`` or a
data file). Rows pass through `schema`, the one place the schema is enforced.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from pathlib import Path

from .builtin import BUILTIN, BUILTIN_CATEGORIES
from .files import HF_DATASETS, LOCAL_SUFFIXES, HFDataset, load_hf, read_local_or_explain
from .schema import (
    MAX_TEXT_CHARS,
    PromptSourceError,
    first_turn,
    first_turn_text,
    normalise_prompt_list,
    normalize_rows,
    render_prompt,
    select,
    truncate,
)
from .sources import SETUP_HINT, SOURCES, source_path

__all__ = ["BUILTIN_CATEGORIES", "HF_DATASETS", "LOCAL_SUFFIXES", "MAX_TEXT_CHARS", "SETUP_HINT", "SOURCES",
           "HFDataset", "PromptSourceError", "common_heldout_ids", "drafter_heldout_ids", "drafter_seen_ids",
           "first_turn_text", "heldout_prompts", "load_prompts", "normalise_prompts", "normalize_rows",
           "policy_split", "render_prompt", "source_path", "truncate"]


def normalise_prompts(prompts: Sequence[dict | str] | None, origin: str = "prompts",
                      default_category: str | None = "custom") -> list[dict]:
    """The one place a list of prompts becomes rows ``{id, category, prompt | turns}``; None is the built-in
    suite (`load_prompts()`). The rules for a caller's list and a file's rows: `schema.normalise_prompt_list`."""
    if prompts is None:
        return load_prompts()
    return normalise_prompt_list(prompts, origin=origin, default_category=default_category)


def load_prompts(source: str | None = None, categories: Sequence[str] | None = None,
                 limit_per_category: int | None = None, seed: int = 0, all_turns: bool = False) -> list[dict]:
    """Prompt rows ``{id, category, prompt | turns, ...}`` from one source.

    source: None (or ``"builtin"``) for the built-in offline suite; a local ``.jsonl``/``.json``/``.csv``/
        ``.parquet`` file; a Hugging Face benchmark name from `HF_DATASETS`, optionally ``name=PATH`` for a
        local copy of it.
    categories: keep only these categories (in this order); an unknown one is an error listing the valid ones.
    limit_per_category: at most this many prompts per category, a subset chosen deterministically by `seed`.
    seed: selects the subset, and the numbers in the generated math problems.
    all_turns: keep every turn of multi-turn rows as ``turns``; by default a multi-turn row becomes a
        single ``prompt`` holding its first turn (MT-bench / Spec-Bench convention).
    """
    if source is None or source == "builtin":
        valid = BUILTIN_CATEGORIES
        wanted = list(categories) if categories is not None else list(valid)
        select([], wanted, None, seed, valid, "the built-in suite")  # validate names before any loading
        rows = [row for category in dict.fromkeys(wanted) for row in BUILTIN[category](seed)]
        origin = "the built-in suite"
    else:
        name, _, local = source.partition("=")
        if name in HF_DATASETS:
            rows = load_hf(name, local or None)
            origin = f"the {name} dataset"
        else:
            path = Path(source).expanduser()
            if not path.name.lower().endswith(LOCAL_SUFFIXES) and not path.exists():
                raise PromptSourceError(
                    f"unknown prompt source {source!r}: use None/'builtin' (the built-in suite), a local file "
                    f"({', '.join(LOCAL_SUFFIXES)}), or a Hugging Face benchmark: {', '.join(HF_DATASETS)} "
                    f"(optionally NAME=PATH for a local copy)")
            if not path.is_file():
                raise PromptSourceError(f"prompt file not found: {path} (check the path; --prompts takes a "
                                        f"file, 'builtin' or a benchmark name)")
            rows = normalize_rows(read_local_or_explain(path), str(path))
            origin = str(path)
        valid = list(dict.fromkeys(row["category"] for row in rows))
    rows = select(rows, categories, limit_per_category, seed, valid, origin)
    if not all_turns:
        rows = [first_turn(row) for row in rows]
    return rows


def drafter_heldout_ids(pair) -> set[str]:
    """Ids of the suite prompts the pair's drafter never saw in training (an `ebsd distill` drafter records them
    in its metadata); empty for any other drafter. A multi-drafter pair (``int4+feature+ngram``): the prompts
    every trained drafter among its drafters held out."""
    drafters = getattr(pair.drafter, "drafters", None)
    if drafters is not None:
        sets = [ids for ids in (_own_heldout_ids(d) for d in drafters) if ids]
        return set.intersection(*sets) if sets else set()
    return _own_heldout_ids(pair.drafter)


def _own_heldout_ids(drafter) -> set[str]:
    return {str(i) for i in (getattr(drafter, "metadata", None) or {}).get("heldout_prompt_ids", [])}


def common_heldout_ids(pairs) -> set[str]:
    """Prompt ids held out by every trained drafter among `pairs` (drafters side by side are compared on
    prompts none of them learned from); empty when none of them is a trained drafter."""
    sets = [ids for ids in map(drafter_heldout_ids, pairs) if ids]
    return set.intersection(*sets) if sets else set()


def drafter_seen_ids(pair) -> set[str] | None:
    """Ids of the built-in suite prompts an `ebsd distill` drafter learned from: the generated prompts (minus its
    held-out ones) and the text-only rows, reconstructed from the selection its metadata records (the same
    `load_prompts` subsets). None for a drafter with no such record (a quantized copy, prompt lookup, any
    Hugging Face model): it learned from none of the suite's prompts, as far as the project knows."""
    config = ((getattr(pair.drafter, "metadata", None) or {}).get("config") or {})
    if not config or config.get("prompt_source") not in (None, "builtin"):
        return None
    held = drafter_heldout_ids(pair)
    seed = int(config.get("seed", 0))
    seen = {str(r["id"]) for r in load_prompts(None, limit_per_category=config.get("prompts_per_category"),
                                                seed=seed)}
    if config.get("text_prompts_per_category"):  # `train.drafter.data.text_rows` draws them with seed + 7
        seen |= {str(r["id"]) for r in load_prompts(None, limit_per_category=config["text_prompts_per_category"],
                                                     seed=seed + 7)}
    return seen - held


def policy_split(pair, verdict_per_category: int = 10, train_per_category: int = 16, seed: int = 0,
                 categories: Sequence[str] | None = None,
                 exclude: Iterable[str] = ()) -> tuple[list[dict], list[dict]]:
    """(verdict rows, training rows) of the built-in suite for policy experiments.

    Verdict rows are prompts nothing learned from: per category the drafter's held-out prompts first, then a
    seeded sample of the prompts its training never selected (`drafter_seen_ids`), at most
    `verdict_per_category`; a category whose unseen pool is smaller gives what it has. Training rows (for
    recording traces, tuning rules and training policies) are a seeded sample of the other prompts of each
    category, at most `train_per_category`; they may include prompts the drafter learned from. Prompts whose ids
    are in `exclude` (another split's, say) are in neither list."""
    excluded = {str(i) for i in exclude}
    rows = [row for row in load_prompts(None, categories=categories, seed=seed) if str(row["id"]) not in excluded]
    seen = drafter_seen_ids(pair) or set()
    held = drafter_heldout_ids(pair)
    verdict, train = [], []
    for category in dict.fromkeys(row["category"] for row in rows):
        group = [row for row in rows if row["category"] == category]
        unseen = [row for row in group if str(row["id"]) not in seen]
        others = [row for row in unseen if str(row["id"]) not in held]
        random.Random(f"{seed}:verdict:{category}").shuffle(others)
        chosen = ([row for row in unseen if str(row["id"]) in held] + others)[:verdict_per_category]
        chosen_ids = {str(row["id"]) for row in chosen}
        pool = [row for row in group if str(row["id"]) not in chosen_ids]
        picked = sorted(random.Random(f"{seed}:train:{category}").sample(range(len(pool)),
                                                                          min(train_per_category, len(pool))))
        verdict.extend(chosen)
        train.extend(pool[i] for i in picked)
    return verdict, train


def heldout_prompts(heldout_ids: Iterable[str], categories: Sequence[str] | None = None,
                    limit_per_category: int | None = None) -> list[dict]:
    """The built-in suite's prompts among `heldout_ids`, in suite order, at most `limit_per_category` of each
    category: what a trained drafter is evaluated or benchmarked on, so that its figures are never measured on
    the prompts it learned from."""
    wanted, rows, taken = {str(i) for i in heldout_ids}, [], {}
    for row in load_prompts(None, categories=categories):
        if str(row["id"]) in wanted and (limit_per_category is None
                                         or taken.get(row["category"], 0) < limit_per_category):
            taken[row["category"]] = taken.get(row["category"], 0) + 1
            rows.append(row)
    return rows

