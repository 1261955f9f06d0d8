"""Stopping policies for EBSD: the project's entropy rules, baselines, the field's published rules and learned
policies, all behind one SB3-style interface (`Policy.predict`) and one registry of text specs."""

from .base import Policy
from .registry import list_policies, make_policy
from .rollout import run_episode, verify_callback

__all__ = ["Policy", "list_policies", "make_policy", "run_episode", "verify_callback"]
