"""The one door to Ray (`pip install 'ebsd-gym[ray]'`), an optional extra: `ebsd record --ray`,
`ebsd tune --backend ray` and `ebsd train ppo --sweep FILE --backend ray` go through here.

Nothing else imports ray, so the project installs and runs without it; a command that asks for a Ray backend
calls `require_ray` before any slow work (loading models or traces) and gets one line naming the install
command if ray is missing. docs/ray.md has the cluster set-up.
"""

from __future__ import annotations

import os

RAY_MISSING = "Ray is not installed: pip install 'ebsd-gym[ray]'"


def require_ray():
    """The ray module, or a one-line ValueError (the CLI prints it as is) naming the install command."""
    try:
        import ray
    except ImportError:
        raise ValueError(RAY_MISSING) from None
    return ray


def init_ray(address: str | None = None, num_cpus: int | None = None):
    """Connect to the cluster at `address` (``ray start --head`` printed it; ``auto``: the one on this machine),
    or start a local one; a session already connected (a test's, a notebook's) is used as it is."""
    ray = require_ray()
    if not ray.is_initialized():
        # Workers inherit the driver's environment: a source checkout on PYTHONPATH is imported there too.
        ray.init(address=address or os.environ.get("RAY_ADDRESS") or None, num_cpus=None if address else num_cpus,
                 include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}}
                 if os.environ.get("PYTHONPATH") else None)
    return ray
