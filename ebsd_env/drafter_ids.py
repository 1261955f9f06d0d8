"""Drafter ids and their old names: the one alias table, read wherever a drafter id is loaded or compared.

The two feature drafters shipped for the embedded verifier were first named ``feature`` (v2, the current one) and
``distilled`` (v1), though both are distilled feature drafters. Their ids now say which one they are:
``feature-v2`` and ``feature-v1``. The old names still work:

- ``feature`` is the current version, as a "latest" tag is: accepted without a warning;
- ``distilled`` is deprecated: accepted with one FutureWarning per process that names ``feature-v1``.

``feature:FOLDER`` (a drafter exported by ``ebsd distill``) and ``distilled:FOLDER`` (the same) keep their
spelling. A ``+``-joined multi-drafter spelling (``int4+feature+ngram``) is read part by part.

Loading records the canonical id (`canonical_drafter`), so new pairs, traces, calibrations and fingerprints name
``feature-v2``, never ``feature``: a record must say which weights it was made with, and ``feature`` will name
another version once one ships. Artifacts made before carry the old names (the shipped PPO policies, the cost
profiles, recorded traces, eval folders), so every comparison of drafter ids goes through `same_drafter` (or
`comparable_drafter`), which reads both sides through this table: an old name and its new id are the same drafter.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

SEPARATOR = "+"  # joins the drafters of a multi-drafter spelling (`ebsd_env.decoding.drafting.SEPARATOR`)
# The shipped feature drafters, newest first (their folders: `ebsd_env.decoding.drafters.SHIPPED_DRAFTERS`).
FEATURE_IDS = ("feature-v2", "feature-v1")
# ``feature:FOLDER`` or ``distilled:FOLDER``: a drafter exported by `ebsd distill` (a feature drafter or a token-level
# one, which the folder's config says), loaded from its folder. Not deprecated: "distilled" is true of both kinds.
# Comparisons read both spellings as the first.
FOLDER_NAMES = ("feature", "distilled")
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


def _canonical_part(part: str, warn: bool, one_folder_spelling: bool) -> str:
    name, colon, folder = part.strip().partition(":")
    if colon and folder:  # a folder: kept as typed (compared under one spelling)
        return f"{FOLDER_NAMES[0]}:{folder}" if one_folder_spelling and name in FOLDER_NAMES else part
    if name not in ALIASES:
        return part  # not an old name (a new id, an HF id, a path, int4, ...): kept exactly as given
    if warn and name in DEPRECATED and name not in _warned:
        _warned.add(name)
        warnings.warn(f"drafter id {name!r} is deprecated: use {ALIASES[name]!r} (the same drafter)", FutureWarning,
                      stacklevel=_outside_the_package())
    return ALIASES[name]


def canonical_drafter(spec: str | None, warn: bool = True) -> str | None:
    """`spec` with every old name replaced by its canonical id (``feature`` -> ``feature-v2``, ``distilled`` ->
    ``feature-v1``), part by part in a ``+``-joined spelling; any other id, and a folder (``distilled:FOLDER``),
    unchanged. `warn`: one FutureWarning per process for a deprecated name (what a user typed, not what an old
    artifact recorded)."""
    if not isinstance(spec, str):
        return spec
    return SEPARATOR.join(_canonical_part(part, warn, False) for part in spec.split(SEPARATOR))


def canonical_drafters(names: Sequence[str]) -> list[str]:
    """Each name of a list (a multi-drafter env's drafters) canonical, without warnings."""
    return [canonical_drafter(name, warn=False) for name in names]


def comparable_drafter(spec):
    """What two drafter ids are compared by: `canonical_drafter`, with ``distilled:FOLDER`` as ``feature:FOLDER``;
    a list (a multi-drafter env's drafters) item by item. Never warns."""
    if isinstance(spec, (list, tuple)):
        return [comparable_drafter(name) for name in spec]
    if not isinstance(spec, str):
        return spec
    return SEPARATOR.join(_canonical_part(part, False, True) for part in spec.split(SEPARATOR))


def same_drafter(a, b) -> bool:
    """Whether two recorded drafter ids (or ``+``-joined spellings, or lists of them) name the same drafters."""
    return comparable_drafter(a) == comparable_drafter(b)


def is_feature_drafter(spec: str) -> bool:
    """Whether `spec` names a shipped feature drafter (any of its ids) or an exported one (``feature:FOLDER``)."""
    name, colon, folder = comparable_drafter(spec).partition(":")
    return name in FEATURE_IDS or bool(colon and folder and name in FOLDER_NAMES)


def old_names() -> str:
    """The old names, for an error that lists the valid ids: ``feature = feature-v2, distilled = feature-v1``."""
    return ", ".join(f"{old} = {new}" for old, new in ALIASES.items())
