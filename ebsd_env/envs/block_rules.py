"""The block rules, written once: where a draft ends, what a stop verifies, what a block keeps (scalar and numpy).

One block = drafting from an empty draft, then one verification. Every place that plays blocks follows these
rules: the decoder's `draft_room` (live and replayed), the draft/verify driver `DraftState.run_block` (whole
fixed-k blocks: `generate`, calibration, the recorder, the bench), `EBSDEnv` (`EBSD-v1`, the replay and
multi-drafter envs, which share its code; a policy decides each step, through `BlockRules.resolve`), the
vector env `ebsd_env.replay.vector` (the ``*_many`` forms, on arrays of envs), and the planners
`ebsd_env.replay.oracle` / `oracle_multi`. `tests/test_block_rules.py` checks that the scalar and the numpy
forms agree; `tests/test_block_driver.py` that every driver caller's blocks end where the rules say.

- **Room** (`draft_room`): a block emits at most ``drafted + 1`` tokens, so a draft may grow while it leaves one
  token of budget for the verifier; nothing follows a drafted end-of-sequence token.
- **The draft ends by itself** (`BlockRules.draft_ends`) at `max_draft_len` tokens, at a drafted EOS or where
  no room is left: there continue verifies the whole draft. The driver, `resolve` and `resolve_many` all ask it.
- **Stop modes** (`STOP_MODES`): a stop after the n-th draft token verifies n tokens (``include``) or n - 1, the
  n-th discarded (``exclude``); at the empty draft (n = 0) a stop verifies nothing drafted (k = 0).
- **Min draft length**: a stop that would verify fewer than `min_draft_len` tokens counts as continue.
- **Forced stops** (`BlockRules.resolve`): which rule overrode the action, by name (`FORCED`).
- **The last token** (`verifier_takes_last`): a verification that leaves one token of budget is followed at
  once by a verification of the empty draft (no draft can help), in the same env step.
- **What a block keeps** (`kept`): under greedy verification, the longest agreeing prefix plus one verifier
  token, cut at the end of the output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# What a stop decision after the j-th draft token verifies: "include" the first j tokens (transformers' confidence
# criteria), or "exclude" the j-th and verify j - 1 (SVIP, llama.cpp's p_min: stop *before* an uncertain token).
STOP_MODES = ("include", "exclude")
# The stop mode of policies that follow the env (the entropy rules, PPO, the oracle). Include measured
# faster on the embedded pair: in exclude mode every stop pays for a drafted token it throws away, which an
# imperfect signal does often (docs/env.md, docs/results/stop-mode/).
DEFAULT_STOP_MODE = "include"
# The names `info["forced"]` gives the rule that overrode an action ("" when none did).
FORCED = ("min_draft_len", "max_draft_len", "eos", "draft_room")


def check_stop_mode(stop_mode: str) -> None:
    if stop_mode not in STOP_MODES:
        raise ValueError(f"unknown stop_mode {stop_mode!r}; valid: {', '.join(STOP_MODES)}")


def stop_verifies(drafted, stop_mode: str):
    """How many draft tokens a stop after `drafted` >= 1 tokens verifies in `stop_mode` (ints or arrays)."""
    return drafted - 1 if stop_mode == "exclude" else drafted


def draft_room(remaining: int, drafted: int, last_is_eos: bool) -> int:
    """How many more tokens are worth drafting, with `remaining` new tokens of budget left and `drafted` tokens in
    the draft (its last an end-of-sequence token or not)."""
    return 0 if last_is_eos else max(0, remaining - 1 - drafted)


def draft_room_many(remaining: np.ndarray, drafted: np.ndarray, last_is_eos: np.ndarray) -> np.ndarray:
    """`draft_room` over arrays."""
    return np.where(last_is_eos, 0, np.maximum(remaining - 1 - drafted, 0))


def verifier_takes_last(remaining):
    """After a verification that leaves `remaining` tokens of budget (> 0: the sequence goes on), is the next block
    the verifier alone at once? Where the empty draft has no room (`draft_room` 0), no draft can help. Works on
    ints and on arrays."""
    return remaining <= 1


def kept(k: int, match: int, left: int) -> tuple[int, int]:
    """(accepted, emitted) of a greedy verification of `k` draft tokens whose first `match` agree with the output
    from the block's start, `left` output tokens remaining: the agreeing prefix plus the verifier's next token."""
    accepted = min(k, match)
    return accepted, min(accepted + 1, left)


def kept_many(k: np.ndarray, match: np.ndarray, left: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`kept` over arrays."""
    accepted = np.minimum(k, match)
    return accepted, np.minimum(accepted + 1, left)


@dataclass(frozen=True)
class BlockRules:
    """The rules of one env's blocks: its `max_draft_len`, `stop_mode` and `min_draft_len`."""

    max_draft_len: int
    stop_mode: str = DEFAULT_STOP_MODE
    min_draft_len: int = 0

    def __post_init__(self):
        check_stop_mode(self.stop_mode)
        if self.min_draft_len < 0:
            raise ValueError(f"min_draft_len must be >= 0, got {self.min_draft_len}")
        if self.max_draft_len < max(1, self.min_draft_len):
            raise ValueError(f"min_draft_len ({self.min_draft_len}) must be <= max_draft_len ({self.max_draft_len}): "
                             "lower min_draft_len or raise max_draft_len")

    @property
    def exclude(self) -> bool:
        return self.stop_mode == "exclude"

    def stop_verifies(self, drafted):
        """How many draft tokens a stop after `drafted` >= 1 tokens verifies (ints or arrays)."""
        return stop_verifies(drafted, self.stop_mode)

    def draft_ends(self, drafted, room):
        """Does a draft of `drafted` tokens with `room` left end by itself (ints or arrays)?"""
        return (room == 0) | (drafted >= self.max_draft_len)

    def resolve(self, stop: bool, drafted: int, room: int, last_is_eos: bool) -> tuple[bool, bool, str]:
        """(verify?, discard the latest draft token first?, the forced rule's name or "") for a stop (True) or
        continue (False) on a draft of `drafted` tokens with `room` left, its last token an EOS or not."""
        if drafted == 0:  # the empty draft at a block's start (or no room left to draft at all)
            if room == 0:
                return True, False, "" if stop else "draft_room"
            return bool(stop), False, ""
        at_end = bool(self.draft_ends(drafted, room))
        if stop and self.stop_verifies(drafted) < self.min_draft_len:  # the stop would verify too short a draft
            return at_end, False, "min_draft_len"
        if stop:
            return True, self.exclude, ""
        if not at_end:
            return False, False, ""
        return True, False, "eos" if last_is_eos else "max_draft_len" if drafted >= self.max_draft_len else "draft_room"

    def resolve_many(self, stop: np.ndarray, drafted: np.ndarray, room: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`resolve`'s (verify, discard) over arrays (the forced rule's name is not computed)."""
        drafting = drafted > 0
        at_end = self.draft_ends(drafted, room)
        too_short = stop & drafting & (self.stop_verifies(drafted) < self.min_draft_len)
        verify = np.where(too_short, at_end, stop | at_end)
        discard = stop & drafting & ~too_short & self.exclude
        return verify, discard

    def k_max(self, remaining, chain_len):
        """Where a draft started with `remaining` tokens of budget ends by itself, the drafter's chain there being
        `chain_len` tokens long (a recorded chain ends at a drafted EOS): the longest draft a block can verify."""
        return np.minimum(np.minimum(self.max_draft_len, chain_len), draft_room_many(remaining, 0, False))

    def drafting_steps(self, k, k_max):
        """Drafting steps a block pays to verify `k` draft tokens (ints or arrays), the draft ending by itself at
        `k_max`: k = 0 stops at the empty draft (none); in exclude mode a stop drafts one more token and discards
        it, except at `k_max`, where continuing verifies the whole draft. `min_draft_len` must be 0 (planners
        choose k freely)."""
        if self.min_draft_len:
            raise ValueError(f"drafting_steps plans blocks with min_draft_len=0, got {self.min_draft_len}")
        k = np.asarray(k)
        extra = (k > 0) & (k < k_max) if self.exclude else np.zeros_like(k, dtype=bool)
        return k + extra
