"""The block rules (`ebsd_env.envs.block_rules`): the numpy forms the vector env uses agree with the scalar forms
the env uses, on random cases, and the scalar forms say what docs/env.md says."""

from __future__ import annotations

import numpy as np
import pytest

from ebsd_env.envs.block_rules import (
    BlockRules,
    draft_room,
    draft_room_many,
    kept,
    kept_many,
    verifier_takes_last,
)

CASES = 4000


def random_cases(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"stop": rng.random(CASES) < 0.5, "drafted": rng.integers(0, 10, CASES),
            "remaining": rng.integers(0, 12, CASES), "last_is_eos": rng.random(CASES) < 0.2,
            "match": rng.integers(0, 10, CASES), "left": rng.integers(1, 12, CASES),
            "chain_len": rng.integers(0, 10, CASES)}


@pytest.mark.parametrize("stop_mode", ["include", "exclude"])
@pytest.mark.parametrize("max_draft_len, min_draft_len", [(1, 0), (4, 0), (8, 0), (4, 1), (6, 3)])
def test_scalar_and_vector_forms_agree(stop_mode, max_draft_len, min_draft_len):
    rules = BlockRules(max_draft_len, stop_mode, min_draft_len)
    c = random_cases(np.random.default_rng(max_draft_len * 10 + min_draft_len))
    c["last_is_eos"] &= c["drafted"] > 0  # an EOS can only be a drafted token
    room = draft_room_many(c["remaining"], c["drafted"], c["last_is_eos"])
    verify, discard = rules.resolve_many(c["stop"], c["drafted"], room)
    accepted, emitted = kept_many(c["drafted"], c["match"], c["left"])
    k_max = rules.k_max(c["remaining"], c["chain_len"])
    forced_seen = set()
    for i in range(CASES):
        scalar_room = draft_room(int(c["remaining"][i]), int(c["drafted"][i]), bool(c["last_is_eos"][i]))
        assert scalar_room == room[i]
        v, d, forced = rules.resolve(bool(c["stop"][i]), int(c["drafted"][i]), scalar_room, bool(c["last_is_eos"][i]))
        assert (v, d) == (verify[i], discard[i]), i
        forced_seen.add(forced)
        assert kept(int(c["drafted"][i]), int(c["match"][i]), int(c["left"][i])) == (accepted[i], emitted[i])
        assert k_max[i] == min(max_draft_len, c["chain_len"][i], max(c["remaining"][i] - 1, 0))
        assert bool(verifier_takes_last(int(c["remaining"][i]))) == (draft_room(int(c["remaining"][i]), 0, False) == 0)
    # The random cases reach every rule (so agreement is not vacuous).
    # (An include-mode stop after n >= 1 tokens verifies n: min_draft_len = 1 never forces it.)
    shortest = 0 if stop_mode == "exclude" else 1
    expected = {"", "max_draft_len", "eos", "draft_room"} | ({"min_draft_len"} if min_draft_len > shortest else set())
    assert forced_seen == expected


def test_the_rules_as_documented():
    include, exclude = BlockRules(4, "include"), BlockRules(4, "exclude")
    assert draft_room(10, 3, False) == 6 and draft_room(10, 3, True) == 0 and draft_room(1, 0, False) == 0
    # The empty draft: stop verifies nothing drafted; continue drafts unless there is no room.
    assert include.resolve(True, 0, 5, False) == (True, False, "")
    assert include.resolve(False, 0, 5, False) == (False, False, "")
    assert exclude.resolve(False, 0, 0, False) == (True, False, "draft_room")
    # A stop verifies n (include) or n - 1 tokens, the latest discarded (exclude).
    assert include.resolve(True, 2, 5, False) == (True, False, "")
    assert exclude.resolve(True, 2, 5, False) == (True, True, "")
    # The draft ends by itself at max_draft_len, at a drafted EOS, where no room is left.
    assert include.resolve(False, 4, 5, False) == (True, False, "max_draft_len")
    assert include.resolve(False, 2, 0, True) == (True, False, "eos")
    assert include.resolve(False, 2, 0, False) == (True, False, "draft_room")
    assert include.resolve(False, 3, 5, False) == (False, False, "")
    # min_draft_len: a stop that would verify too few tokens continues (verifying the whole draft at its end).
    at_least_two = BlockRules(4, "exclude", min_draft_len=2)
    assert at_least_two.resolve(True, 2, 5, False) == (False, False, "min_draft_len")
    assert at_least_two.resolve(True, 2, 0, False) == (True, False, "min_draft_len")
    assert at_least_two.resolve(True, 3, 5, False) == (True, True, "")
    # Drafting steps a plan pays: exclude drafts the stop token and discards it, except where the draft ends.
    assert include.drafting_steps(np.arange(4), 3).tolist() == [0, 1, 2, 3]
    assert exclude.drafting_steps(np.arange(4), 3).tolist() == [0, 2, 3, 3]
    assert kept(3, 1, 10) == (1, 2) and kept(3, 5, 2) == (3, 2)


@pytest.mark.parametrize("kwargs, message", [
    ({"max_draft_len": 4, "stop_mode": "before"}, "unknown stop_mode 'before'"),
    ({"max_draft_len": 0}, "must be <= max_draft_len (0)"),
    ({"max_draft_len": 2, "min_draft_len": 3}, "lower min_draft_len or raise max_draft_len"),
    ({"max_draft_len": 2, "min_draft_len": -1}, "min_draft_len must be >= 0"),
])
def test_bad_rules_refused(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        BlockRules(**kwargs)
