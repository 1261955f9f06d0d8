"""The prompt schema ``{id, category, prompt | turns}``: rows normalised, selected and rendered the same way
whatever their source (the built-in suite, a file, a Hugging Face benchmark, a caller's list)."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

# Long source texts are cut to this many characters (at a word boundary) so prompts fit small context windows.
MAX_TEXT_CHARS = 1500


class PromptSourceError(ValueError):
    """A prompt source that cannot be read: the message names the problem and the fix."""


def truncate(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """`text` cut to at most `limit` characters at a word boundary, with an ellipsis when cut."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip() + " ..."


def _parse_turns(value, where: str) -> list[str]:
    if isinstance(value, str):  # a CSV cell holding a JSON list
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = [value]
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(t, str) for t in value):
        raise PromptSourceError(f"{where}: `turns` must be a non-empty list of strings")
    return list(value)


def normalize_rows(records: Sequence[dict], origin: str) -> list[dict]:
    """Rows of a prompt *file* in the common schema: each must name its `category`; `id` filled in when absent."""
    return normalise_prompt_list(records, origin=origin, default_category=None)


def normalise_prompt_list(prompts: Sequence[dict | str], origin: str = "prompts",
                          default_category: str | None = "custom") -> list[dict]:
    """The one place a list of prompts becomes rows ``{id, category, prompt | turns}`` (`normalise_prompts`
    without its None case, the built-in suite).

    Given by a caller (the env's ``prompts=``), plain strings are prompts and rows without a category get
    `default_category`, and a row keeps its other fields. Read from a file (``default_category=None``), every row
    must name its category and only the schema's fields are kept, so a file's extra columns never reach the
    decoder.
    """
    if isinstance(prompts, (str, dict)):
        raise TypeError("prompts must be a list of prompts (dicts or strings), not a single prompt: wrap it in [...]")
    from_file = default_category is None
    if not prompts:
        raise (PromptSourceError(f"{origin}: no rows") if from_file else
               ValueError("prompts is empty: give at least one prompt (or None for the built-in suite)"))
    rows = []
    for number, record in enumerate(prompts):
        where = f"{origin}: row {number}"
        if isinstance(record, str) and not from_file:
            rows.append({"id": f"prompt-{number}", "category": default_category, "prompt": record})
            continue
        if not isinstance(record, dict):
            if from_file:
                raise PromptSourceError(f"{where} is not an object/record")
            raise TypeError(f"prompt {number} is a {type(record).__name__}; give a string or a dict with 'prompt' "
                            "or 'turns'")
        if from_file:
            missing = [key for key in ("category",) if record.get(key) in (None, "")]
            if "prompt" not in record and "turns" not in record:
                missing.append("prompt or turns")
            if missing:
                raise PromptSourceError(f"{where} lacks {' and '.join(missing)}; each row needs a `category` and "
                                        f"either `prompt` (text) or `turns` (list of user turns). Columns found: "
                                        f"{sorted(record)}")
            row = {"id": str(record.get("id", record.get("question_id", number))),
                   "category": str(record["category"])}
            if record.get("turns") not in (None, ""):
                row["turns"] = _parse_turns(record["turns"], where)
            else:
                if not isinstance(record["prompt"], str) or not record["prompt"].strip():
                    raise PromptSourceError(f"{where}: `prompt` must be non-empty text")
                row["prompt"] = record["prompt"]
        else:
            if not record.get("prompt") and not record.get("turns"):
                raise ValueError(f"prompt row {number} has neither a non-empty 'prompt' nor 'turns' field: {record!r}")
            row = {"id": record.get("id", f"prompt-{number}"), "category": record.get("category", default_category),
                   **record}
        rows.append(row)
    return rows


def select(rows: list[dict], categories: Sequence[str] | None, limit: int | None, seed: int,
           valid: Sequence[str], origin: str) -> list[dict]:
    """`rows` of `categories` (every one of `valid` when None, in that order), at most `limit` of each: an unknown
    category or a limit below 1 is an error naming the valid values."""
    if categories is not None:
        unknown = [c for c in categories if c not in valid]
        if unknown:
            raise PromptSourceError(f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {unknown} in {origin}; "
                                    f"valid: {', '.join(valid)}")
        order = list(dict.fromkeys(categories))
    else:
        order = list(dict.fromkeys(valid))
    if limit is not None and limit < 1:
        raise PromptSourceError(f"limit_per_category must be >= 1 (got {limit}); use None for every prompt")
    selected = []
    for category in order:
        group = [row for row in rows if row["category"] == category]
        if limit is not None and len(group) > limit:
            # A seeded subset, kept in source order so the same seed always gives the same prompts.
            keep = set(random.Random(f"{seed}:{category}").sample(range(len(group)), limit))
            group = [row for index, row in enumerate(group) if index in keep]
        selected.extend(group)
    return selected


def first_turn(row: dict) -> dict:
    """`row` with its first turn as its `prompt` (MT-bench / Spec-Bench convention); a single-turn row as is."""
    if "turns" not in row:
        return row
    row = dict(row)
    row["prompt"] = row.pop("turns")[0]
    return row


def first_turn_text(row: dict | str) -> str:
    """The user text of a prompt row: its `prompt`, or the first of its `turns`."""
    if isinstance(row, str):
        return row
    return row["prompt"] if "prompt" in row else row["turns"][0]


def render_prompt(row: dict | str, tokenizer) -> str | list[dict]:
    """What to give `SpeculativeDecoder.start`: the first user turn as chat messages when the tokenizer has a
    chat template (it is then rendered by the verifier's template), else the plain text."""
    text = first_turn_text(row)
    return [{"role": "user", "content": text}] if getattr(tokenizer, "chat_template", None) else text
