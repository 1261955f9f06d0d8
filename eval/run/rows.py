"""The rows of ``episodes.jsonl``: one key per episode, read back with a torn last line dropped, appended with fsync
(so that a rerun with the same ``--out`` resumes)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ebsd_env.io import json_safe


def row_key(variant: str, prompt_id: str, seed: int, temperature: float, max_new_tokens: int) -> str:
    return json.dumps([variant, prompt_id, int(seed), float(temperature), int(max_new_tokens)])


def read_rows(path: Path) -> list[dict]:
    """Rows of an episodes file; a torn last line (an interrupted write) is cut off the file and ignored."""
    if not path.exists():
        return []
    data = path.read_bytes()
    rows, good_end = [], 0
    for line in data.splitlines(keepends=True):
        try:
            if not line.endswith(b"\n"):
                raise ValueError("unterminated line")
            rows.append(json.loads(line))
        except ValueError:
            if good_end + len(line) < len(data):
                raise ValueError(f"{path}: a corrupt line in the middle of the file (byte {good_end}); move the "
                                 "file away or fix that line to resume") from None
            with open(path, "r+b") as handle:  # drop the torn tail so new rows start on a fresh line
                handle.truncate(good_end)
            break
        good_end += len(line)
    return rows


def append_row(handle, row: dict) -> None:
    """One row as a line of strict JSON (a NaN, e.g. the acceptance of an episode that drafted nothing, is
    null: bare NaN breaks strict parsers), flushed and fsync'ed."""
    handle.write(json.dumps(json_safe(row), allow_nan=False) + "\n")
    handle.flush()
    os.fsync(handle.fileno())
