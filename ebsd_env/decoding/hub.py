"""Whether a Hugging Face model id can be had here, asked before transformers tries.

transformers retries an unreachable hub for about 40 s before it gives up; on an offline machine every typo in
a model id would cost that. One look at the local cache and one short connection attempt answer the same
question at once, so a model that cannot be loaded fails in a second with a line that says what to do.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

CONNECT_TIMEOUT_S = 3.0


class HubUnavailable(OSError):
    """The model is not cached and the hub cannot give it now; `ebsd_env.decoding.models` words the error for the
    user."""


def _cached(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except ValueError:  # not a valid repo id: transformers' own message says so
        return True


def hub_offline() -> bool:
    """HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE set: the user asked for no network."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE) or os.environ.get("TRANSFORMERS_OFFLINE", "").lower() in ("1", "true")


def hub_reachable() -> bool:
    """One TCP connection to the hub's endpoint within `CONNECT_TIMEOUT_S` (proxies: left to transformers)."""
    from huggingface_hub import constants

    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # a proxy decides what is reachable; do not second-guess it
    endpoint = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((endpoint.hostname, endpoint.port or 443), timeout=CONNECT_TIMEOUT_S).close()
    except OSError:
        return False
    return True


def check_hub_model(repo_id: str) -> None:
    """Raise `HubUnavailable` (one line) when `repo_id` is neither in the local cache nor downloadable now."""
    if _cached(repo_id):
        return
    from huggingface_hub import constants

    if hub_offline():
        raise HubUnavailable("not in the local Hugging Face cache, and the hub is switched off "
                             "(HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE)")
    if not hub_reachable():
        raise HubUnavailable(f"not in the local Hugging Face cache, and {urlparse(constants.ENDPOINT).hostname} "
                             "cannot be reached from here")
