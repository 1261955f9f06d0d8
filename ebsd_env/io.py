"""Writing files so that a reader never sees half of one: the project's single atomic-write utility.

Every file the project writes for someone else to read (run folders, summaries, reports, cost models, kernel
caches, checkpoints, exported drafters) goes through here, so they all share the same guarantees:

- the data goes to a temporary file in the *same* folder (a rename across file systems is not atomic), is
  flushed and fsync'ed, then renamed over the target: a crash leaves the old file or the new one, never a mix;
- the result has the mode a plain ``open()`` would give (0666 minus the umask, so 0644 under umask 022);
  ``tempfile.mkstemp`` alone makes owner-only 0600 files that other users and tools then cannot read;
- on any error, Ctrl-C included, the temporary file is removed and the target is left untouched;
- JSON is strict: NaN and infinities become ``null`` (bare ``NaN`` is not JSON and breaks other readers).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def ebsd_cache_dir() -> Path:
    """Where the project caches what it converts or measures once per machine (dequantized models, kernel
    choices): ``$EBSD_CACHE``, else ``$XDG_CACHE_HOME/ebsd``, else ``~/.cache/ebsd``."""
    if os.environ.get("EBSD_CACHE"):
        return Path(os.environ["EBSD_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ebsd"


def check_folder_path(path: str | Path, flag: str) -> Path:
    """Refuse, in one line and before any work, a folder that cannot be made because part of its path is a file
    (``--out results.json/run``) or because its nearest existing folder cannot be written; `flag` names the
    argument in the message. Writing is tried (an empty folder made and removed at once): permission bits alone
    do not tell, for root or on a read-only file system."""
    path = Path(path).expanduser()
    _check_makeable(path, path, flag)
    return path


def check_file_path(path: str | Path, flag: str) -> Path:
    """`check_folder_path` for a file to be written: its folder can be made and written, and the path itself is
    not a folder."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ValueError(f"{flag} {path}: that path is a folder; give a file path")
    _check_makeable(path.parent, path, flag)
    return path


def _check_makeable(folder: Path, named: Path, flag: str) -> None:
    for part in (folder, *folder.parents):
        if part.exists():
            if not part.is_dir():
                where = "is a file" if part == named else f"passes through the file {part}"
                raise ValueError(f"{flag} {named}: that path {where}, so no folder can be made there; choose "
                                 "another path")
            try:
                os.rmdir(tempfile.mkdtemp(dir=part, prefix=".ebsd-write-check-"))
            except OSError as error:
                raise ValueError(f"{flag} {named}: cannot write in {part} ({error.strerror}); choose a folder you "
                                 "can write") from None
            return


def _umask_mode() -> int:
    """The mode a plain ``open(path, "w")`` would create a file with under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _temporary_beside(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f"{path.suffix}.tmp")
    os.close(fd)
    return tmp


def remove_orphaned_temporaries(folder: str | Path, stem_glob: str = "*", suffix: str = "") -> list[Path]:
    """Delete the temporary files `save_atomic` leaves in `folder` when a process is killed (SIGKILL, power loss)
    between writing one and renaming it: those of files matching ``stem_glob + suffix``. Returns what it deleted.
    Call it only where no other process writes into `folder` at the same time."""
    removed = sorted(Path(folder).glob(f".{stem_glob}.*{suffix}.tmp"))
    for orphan in removed:
        orphan.unlink()
    return removed


def save_atomic(path: str | Path, save: Callable[[str], Any]) -> Path:
    """Run a library's ``save(filename)`` (torch.save, safetensors, an SB3 model, a matplotlib figure) into a
    temporary file beside `path`, then rename it over `path`. The temporary name ends in ``<suffix>.tmp``: it
    has a suffix, so libraries that add one to a bare name (stable-baselines3's ``.zip``) write where told."""
    path = Path(path)
    tmp = _temporary_beside(path)
    try:
        save(tmp)
        with open(tmp, "rb+") as handle:  # what `save` wrote reaches the disk before the rename makes it visible
            os.fsync(handle.fileno())
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def save_folder_atomic(folder: str | Path, save: Callable[[Path], Any]) -> Path:
    """Run ``save(staging)`` (a library's ``save_pretrained``) into a temporary folder beside `folder`, give it
    and everything in it the modes a plain ``mkdir`` / ``open()`` would (``tempfile.mkdtemp`` makes 0700 and
    some writers 0600 files, which other users of a shared cache then cannot read; nothing is made executable),
    then rename it to `folder`. Where `folder` appeared meanwhile (another process saved it first), theirs is
    kept and ours removed; on any error the temporary folder is removed."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".staging", dir=folder.parent))
    try:
        save(staging)
        file_mode = _umask_mode()
        folder_mode = file_mode | (file_mode & 0o444) >> 2  # 0644 -> 0755: searchable where readable
        for path in staging.rglob("*"):
            os.chmod(path, folder_mode if path.is_dir() else file_mode)
        os.chmod(staging, folder_mode)
        try:
            staging.rename(folder)
        except OSError:
            if not folder.is_dir():
                raise
            shutil.rmtree(staging, ignore_errors=True)  # another process's copy is as good as ours
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write text (UTF-8) or bytes to `path` atomically, with the umask's mode; the folder is created."""
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            handle.write(payload)

    return save_atomic(path, write)


def json_safe(value: Any) -> Any:
    """`value` with what strict JSON cannot hold made writable: NaN / infinities become None, NumPy scalars and
    arrays Python numbers and lists, tuples and sets lists, paths strings, dict keys strings."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # NumPy scalars / arrays, torch tensors
        return json_safe(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(data: Any, indent: int | None = 2, sort_keys: bool = False) -> str:
    """Strict JSON text (no bare NaN) of `data`, converted by `json_safe`, with a final newline."""
    return json.dumps(json_safe(data), indent=indent, sort_keys=sort_keys, allow_nan=False) + "\n"


def write_json_atomic(path: str | Path, data: Any, indent: int | None = 2, sort_keys: bool = False) -> Path:
    """`data` as strict JSON (`to_json`), written atomically (`write_atomic`)."""
    return write_atomic(path, to_json(data, indent=indent, sort_keys=sort_keys))


def read_cache_entries(path: str | Path, version: int) -> dict:
    """The entries of a cache file (``{"version": version, "entries": {key: entry}}``, e.g. the kernel choices
    under `ebsd_cache_dir`); {} for a missing or damaged file or one of another version: its entries are then
    measured again, and `add_cache_entry` repairs the file."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != version or not isinstance(data.get("entries"), dict):
        return {}
    return data["entries"]


def add_cache_entry(path: str | Path, version: int, key: str, entry: Any) -> None:
    """Add one entry to a cache file, re-reading the file first (another process may have added others);
    atomic, and readable by others (the umask's mode)."""
    entries = read_cache_entries(path, version)
    entries[key] = entry
    write_json_atomic(path, {"version": version, "entries": entries}, sort_keys=True)


def read_json(path: str | Path, what: str, fix: str) -> Any:
    """The JSON in `path`, or one line naming the file, what it should hold (`what`) and `fix`: a missing,
    binary or corrupt file otherwise fails with a bare decode error that names no file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist; {fix}")
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{what} {str(path)!r} is not text (not UTF-8): {fix}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{what} {str(path)!r} is not valid JSON ({error}): {fix}") from None
