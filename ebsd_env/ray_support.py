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


def fit_tuner(tuner):
    """`tuner.fit()`, raising KeyboardInterrupt when Ctrl-C stopped it. Ray Tune catches the first SIGINT itself:
    it checkpoints the experiment and returns normally, after putting back the handler it replaced; so a handler
    that is ours again after the fit means an interrupt (otherwise Ray's stays installed: we put ours back)."""
    import os
    import signal
    import threading

    ours = signal.getsignal(signal.SIGINT)
    results = tuner.fit()
    # Ray catches signals only in the main thread, and not at all with TUNE_DISABLE_SIGINT_HANDLER=1.
    watched = threading.current_thread() is threading.main_thread() and \
        not int(os.environ.get("TUNE_DISABLE_SIGINT_HANDLER", "0"))
    interrupted = watched and signal.getsignal(signal.SIGINT) is ours
    if watched:
        signal.signal(signal.SIGINT, ours)
    if interrupted:
        print("[ebsd] interrupted: the experiment state is saved; rerun the same command to resume", flush=True)
        raise KeyboardInterrupt
    return results
