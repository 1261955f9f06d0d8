"""The one atomic writer (`ebsd_env.io`) every written file goes through: readable mode, strict JSON, no
temporary left behind on an error; and no second copy of it anywhere in the project."""

from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest

from ebsd_env.io import (
    add_cache_entry,
    read_cache_entries,
    save_atomic,
    save_folder_atomic,
    write_atomic,
    write_json_atomic,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_written_files_get_the_umask_mode_not_owner_only(tmp_path, umask_022):
    text = write_atomic(tmp_path / "a" / "report.md", "hello")
    data = write_json_atomic(tmp_path / "summary.json", {"x": 1})
    saved = save_atomic(tmp_path / "blob.bin", lambda tmp: Path(tmp).write_bytes(b"\0\1"))
    for path in (text, data, saved):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert text.read_text() == "hello" and saved.read_bytes() == b"\0\1"


def test_a_saved_folder_is_readable_like_plain_files_whatever_the_writer_made(tmp_path, umask_022):
    """The converted-model cache: `save_pretrained` into a staging folder (0700 from mkdtemp, files the writer
    may make 0600), published with the umask's modes, so another user of a shared cache can read it."""
    from ebsd_env.decoding.tiny import tiny_model

    def save(staging: Path) -> None:
        tiny_model(20, seed=0).save_pretrained(staging)
        (staging / "sub").mkdir(mode=0o700)
        (staging / "sub" / "private.bin").write_bytes(b"x")
        os.chmod(staging / "sub" / "private.bin", 0o600)

    folder = save_folder_atomic(tmp_path / "cache" / "model", save)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.rglob("*") if p.is_file()} == {0o644}
    assert stat.S_IMODE((folder / "sub").stat().st_mode) == 0o755 and (folder / "model.safetensors").is_file()
    # Another process's copy, there first, is kept; a failing save leaves nothing behind.
    assert save_folder_atomic(folder, lambda staging: (staging / "other").write_text("y")) == folder
    assert not (folder / "other").exists()
    with pytest.raises(KeyboardInterrupt):
        save_folder_atomic(tmp_path / "cache" / "broken", lambda staging: (_ for _ in ()).throw(KeyboardInterrupt))
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["model"]


def test_json_is_strict_nan_and_infinities_become_null(tmp_path):
    path = write_json_atomic(tmp_path / "record.json", {"a": float("nan"), "b": [np.float32(1.5), -math.inf],
                                                       "c": np.int64(3), "d": (1, 2), "e": Path("x")})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [1.5, None], "c": 3, "d": [1, 2], "e": "x"}


def test_an_error_leaves_the_old_file_and_no_temporary(tmp_path):
    path = write_atomic(tmp_path / "model.zip", "old")

    def broken(tmp: str) -> None:
        Path(tmp).write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        save_atomic(path, broken)
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["model.zip"]


def test_a_cache_file_keeps_its_entries_and_drops_other_versions_and_damage(tmp_path):
    path = tmp_path / "cache" / "kernels.json"
    assert read_cache_entries(path, 2) == {}  # missing: nothing cached yet
    add_cache_entry(path, 2, "a", {"x": 1})
    path.write_text(json.dumps({"version": 2, "entries": {**read_cache_entries(path, 2), "b": 2}}))  # another writer
    add_cache_entry(path, 2, "c", [3])
    assert read_cache_entries(path, 2) == {"a": {"x": 1}, "b": 2, "c": [3]}  # re-read before adding: b kept
    assert read_cache_entries(path, 3) == {}  # another version's entries are measured again
    path.write_text('{"version": 2, "entries": {"a"')
    assert read_cache_entries(path, 2) == {}  # damaged: measured again, and the next entry repairs the file
    add_cache_entry(path, 2, "d", 4)
    assert json.loads(path.read_text()) == {"version": 2, "entries": {"d": 4}}


def test_no_other_atomic_writer_in_the_project():
    """Temporary-file-and-rename is written once, in ebsd_env/io.py. Whole folders staged then renamed (the
    converted model cache) go through `save_folder_atomic`; a training checkpoint is another mechanism, listed here."""
    folders = {("train/callbacks.py", "tmp.rename(target)")}
    pattern = re.compile(r"mkstemp\(|os\.replace\(|tmp\w*\.(replace|rename)\(|\.tmp[\"']")
    offenders = []
    for path in ROOT.glob("*/**/*.py"):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith((".venv/", "tests/")) or relative == "ebsd_env/io.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line) and not any(relative == f and snippet in line for f, snippet in folders):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert not offenders, "use ebsd_env.io instead:\n" + "\n".join(offenders)
