"""GSM-Symbolic word-problem templates (Mirzadeh et al. 2024, arXiv 2410.05229), vendored from reasoning-gym 0.1.25.

The built-in suite's `math` category draws one problem per template, its numbers and names picked by the seed.
Vendored (Apache-2.0, ebsd_env/prompts/data/LICENSE-Apache-2.0.txt) because reasoning-gym cannot be imported
without its many dependencies; `generators_00_49.py`, `generators_50_99.py` and `utils.py` are the upstream code
with the changes their docstrings list. Which templates are used is a data file (`data/gsm_symbolic_tasks.json`,
upstream's ``tasks_ok``).
"""

from __future__ import annotations

from collections.abc import Callable
from random import Random


def generators() -> dict[int, Callable[[Random], dict]]:
    """Template index -> its generator: ``generator(rng)`` gives ``{"question": ..., "answer": ..., ...}``."""
    from . import generators_00_49, generators_50_99

    found = {}
    for module in (generators_00_49, generators_50_99):
        for name in dir(module):
            prefix, _, index = name.partition("_")
            if prefix == "generate" and index.isdigit():
                found[int(index)] = getattr(module, name)
    return found
