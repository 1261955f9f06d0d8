"""Drafter ids and their old names: the one alias table, read wherever a drafter id is loaded or compared.

The two feature drafters shipped for the embedded verifier were first named ``feature`` (v2, the current one) and
``distilled`` (v1), though both are distilled feature drafters. Their ids now say which one they are:
``feature-v2`` and ``feature-v1``. The old names still work:

- ``feature`` is the current version, as a "latest" tag is: accepted without a warning;
- ``distilled`` is deprecated: accepted with one FutureWarning per process that names ``feature-v1``.

``feature:FOLDER`` (a drafter exported by ``ebsd distill``) keeps its spelling; ``distilled:FOLDER`` is its
deprecated alias. A ``+``-joined multi-drafter spelling (``int4+feature+ngram``) is read part by part.

Loading records the canonical id (`canonical_drafter`), so new pairs, traces, calibrations and fingerprints name
``feature-v2``, never ``feature``: a record must say which weights it was made with, and ``feature`` will name
another version once one ships. Artifacts made before carry the old names (the shipped PPO policies, the cost
profiles, recorded traces, eval folders), so every comparison of drafter ids goes through `same_drafter`, which
reads both sides through this table: an old name and its new id are the same drafter.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

SEPARATOR = "+"  # joins the drafters of a multi-drafter spelling (`ebsd_env.decoding.drafting.SEPARATOR`)
# The shipped feature drafters, newest first (their folders: `ebsd_env.decoding.drafters.SHIPPED_DRAFTERS`).
FEATURE_IDS = ("feature-v2", "feature-v1")
# ``feature:FOLDER``: a feature (or token-level) drafter exported by `ebsd distill`, loaded from its folder.
FOLDER_PREFIX = "feature"
# Old name -> canonical id. Every artifact recorded before the rename meant v2 by ``feature``: if ``feature``
# ever moves to a later version, keep reading recorded ``feature`` as feature-v2 (split this entry then).
ALIASES = {"feature": "feature-v2", "distilled": "feature-v1"}
DEPRECATED = frozenset({"distilled"})  # old names that warn; ``feature`` stays as the "latest" tag
_warned: set[str] = set()


def _outside_the_package() -> int:
    """The stacklevel, for its caller's `warnings.warn`, of the first frame outside `ebsd_env`: the warning points
    at the line that named the old id (load_pair, cached_pair and the envs pass it down through several frames)."""
    package = str(Path(__file__).parent)
    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(package):
        level, frame = level + 1, frame.f_back
    return level


def _canonical_part(part: str, warn: bool) -> str:
    name, colon, folder = part.strip().partition(":")
    if name not in ALIASES and not (colon and name in FEATURE_IDS):
        return part  # not a feature drafter's id (an HF id, a path, int4, ...): kept exactly as given
    if warn and name in DEPRECATED and name not in _warned:
        _warned.add(name)
        new = f"{FOLDER_PREFIX}:FOLDER" if colon and folder else ALIASES[name]
        warnings.warn(f"drafter id {name!r} is deprecated: use {new!r} (the same drafter)", FutureWarning,
                      stacklevel=_outside_the_package())
    if colon and folder:  # a folder: the version in the name says nothing about what the folder holds
        return f"{FOLDER_PREFIX}:{folder}"
    return ALIASES.get(name, name)


def canonical_drafter(spec: str | None, warn: bool = True) -> str | None:
    """`spec` with every old name replaced by its canonical id (``feature`` -> ``feature-v2``, ``distilled`` ->
    ``feature-v1``, ``distilled:FOLDER`` -> ``feature:FOLDER``), part by part in a ``+``-joined spelling; any
    other id unchanged. `warn`: one FutureWarning per process for a deprecated name (what a user typed, not what
    an old artifact recorded)."""
    if not isinstance(spec, str):
        return spec
    return SEPARATOR.join(_canonical_part(part, warn) for part in spec.split(SEPARATOR))


def canonical_drafters(names: Sequence[str]) -> list[str]:
    """Each name of a list (a multi-drafter env's drafters) canonical, without warnings."""
    return [canonical_drafter(name, warn=False) for name in names]


def same_drafter(a, b) -> bool:
    """Whether two recorded drafter ids (or ``+``-joined spellings, or lists of them) name the same drafters."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return canonical_drafters(a) == canonical_drafters(b)
    return canonical_drafter(a, warn=False) == canonical_drafter(b, warn=False)


def is_feature_drafter(spec: str) -> bool:
    """Whether `spec` names a shipped feature drafter (any of its ids) or an exported one (``feature:FOLDER``)."""
    name, colon, _ = canonical_drafter(spec, warn=False).partition(":")
    return name in FEATURE_IDS or (bool(colon) and name == FOLDER_PREFIX)


def old_names() -> str:
    """The old names, for an error that lists the valid ids: ``feature = feature-v2, distilled = feature-v1``."""
    return ", ".join(f"{old} = {new}" for old, new in ALIASES.items())
