"""oracle-dp against exhaustive search: on small random traces, every stopping plan is enumerated and timed by a
block-by-block simulation of the env's rules; the DP's optimal time must equal the best of them exactly, in both
stop modes, under flat, steep and nonlinear verification costs, with and without a cost per decision and a
drafter's per-block catch-up. The simulation itself is checked against the replay env following random plans, and
the comparison is shown to catch wrong planners (k <= 1, k <= 2, 1 % off optimal, blind to decision costs or to
the catch-up)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ebsd_env.replay import ReplayEnv, TraceSet
from ebsd_env.replay.oracle import optimal_plan, optimal_rate
from ebsd_env.replay.trace import SIGNALS, Trace
from ebsd_env.timing.cost_model import CostModel

# Every cost a multiple of 1/1024: sums of a few of them are exact in float64, so the DP (summing backwards)
# and the enumeration (summing forwards) must agree to the last bit.
COST_SHAPES = {
    "flat": CostModel(draft_s=1 / 64, verify_points=((1, 0.25), (2, 0.25), (9, 0.25))),
    "steep": CostModel(draft_s=1 / 32, verify_points=((1, 0.125), (2, 0.1875), (3, 0.25), (9, 0.625))),
    "nonlinear": CostModel(draft_s=1 / 128, verify_points=((1, 0.25), (2, 0.25), (3, 0.375), (5, 0.5), (6, 1.0),
                                                           (9, 1.25))),
}
# ... and a context-aware clock: each block is priced at its start's context (prompt + position), costs growing
# with it (exact binary fractions at every context of these traces: slopes are multiples of 1/1024 per token).
_CONTEXT_ROW = (0.25, 0.25, 0.375, 0.375, 0.5, 0.5, 0.625, 0.625, 0.75)
COST_SHAPES["context"] = CostModel(
    draft_s=1 / 64, verify_points=tuple(enumerate(_CONTEXT_ROW, start=1)), context_points=(1, 9),
    verify_grid=(_CONTEXT_ROW, tuple(s + 0.25 for s in _CONTEXT_ROW)), draft_grid=(1 / 64, 1 / 32))
# ... and a drafter whose block's first step catches up on the last block's tokens (`CostModel.catch_up_s`).
COST_SHAPES["catch-up"] = CostModel(draft_s=1 / 128, verify_points=((1, 0.125), (2, 0.1875), (3, 0.25), (9, 0.625)),
                                    catch_up_s=1 / 16)
DECIDE_S = {name: 0.0 for name in COST_SHAPES}
COST_SHAPES["decisions"] = COST_SHAPES["nonlinear"]  # ... and a clock charging each policy decision
DECIDE_S["decisions"] = 1 / 256
STOP_MODES = ("include", "exclude")


def random_trace(rng: np.random.Generator, index: int, recorded_len: int) -> Trace:
    """A trace of 2-7 output tokens with chains agreeing with the output for a random prefix (often all of it,
    so that long drafts pay), shorter where the budget leaves no room, sometimes cut early (a drafted EOS)."""
    n_out = int(rng.integers(2, 8))
    budget = n_out + int(rng.integers(0, 3))  # == n_out: cut by the budget; > n_out: y ends (EOS) before it
    output = rng.integers(1, 6, n_out).tolist()
    chains = []
    for j in range(n_out):
        room = min(recorded_len, max(budget - j - 1, 0))
        length = room if rng.random() < 0.7 else int(rng.integers(0, room + 1))
        agree = length if rng.random() < 0.5 else int(rng.integers(0, length + 1))
        truth = output[j:j + length]
        chains.append([truth[i] if i < min(agree, len(truth)) else 0 for i in range(length)])  # 0: never in y
    offsets = np.concatenate([[0], np.cumsum([len(c) for c in chains])]).astype(np.int64)
    tokens = np.asarray([t for c in chains for t in c], dtype=np.int64)
    signals = {name: np.zeros(len(tokens)) for name in SIGNALS}
    return Trace(id=f"t{index}", category="toy", prompt_index=index, prompt_ids=[1], output=output, budget=budget,
                 chain_offsets=offsets, chain_tokens=tokens, signals=signals)


def block(trace: Trace, costs: CostModel, max_draft_len: int, stop_mode: str, j: int, k: int,
          decide_s: float = 0.0) -> tuple[float, int]:
    """(seconds, next block start) of verifying k draft tokens at block start j, by the env's rules: a draft ends
    by itself at max_draft_len, at the end of its chain and where the budget leaves no room; in exclude mode a
    stop drafts the token it then discards, except at the empty draft and where the draft ended by itself; the
    policy decides at the empty draft and after each drafted token; a block leaving exactly one token of budget
    is followed by the verifier alone producing it (no decision)."""
    n_out = len(trace.output)
    own_end = min(max_draft_len, len(trace.chain(j)), max(trace.budget - j - 1, 0))
    assert 0 <= k <= own_end
    drafting = k + 1 if stop_mode == "exclude" and 0 < k < own_end else k
    context = len(trace.prompt_ids) + j  # a context-aware clock prices the block at its start
    seconds = (drafting * costs.draft_cost(context) + (costs.catch_up_s if drafting else 0.0)
               + costs.verify_cost(k + 1, context) + (drafting + 1) * decide_s)
    chain, truth = trace.chain(j)[:k], trace.output[j:j + k]
    accepted = next((i for i, (a, b) in enumerate(zip(chain, truth, strict=False)) if a != b), min(k, len(truth)))
    nxt = min(j + accepted + 1, n_out)
    if nxt < n_out and trace.budget - nxt == 1:
        seconds += costs.verify_cost(1, len(trace.prompt_ids) + nxt)
        nxt += 1
    return seconds, nxt


def plan_time(trace: Trace, costs: CostModel, max_draft_len: int, stop_mode: str, choose,
              decide_s: float = 0.0) -> tuple[float, list]:
    """Total seconds of the plan that verifies choose(j, own_end) tokens at each block start j; and the plan."""
    j, total, plan = 0, 0.0, []
    while j < len(trace.output):
        own_end = min(max_draft_len, len(trace.chain(j)), max(trace.budget - j - 1, 0))
        k = choose(j, own_end)
        seconds, nxt = block(trace, costs, max_draft_len, stop_mode, j, k, decide_s)
        total += seconds
        plan.append((j, k, own_end))
        j = nxt
    return total, plan


def exhaustive(trace: Trace, costs: CostModel, max_draft_len: int, stop_mode: str, k_limit: int | None = None,
               decide_s: float = 0.0):
    """(least total seconds over every plan, plans enumerated); `k_limit` restricts the drafts (a mutant)."""
    n_out = len(trace.output)
    best, count = np.inf, 0

    def walk(j: int, spent: float) -> None:
        nonlocal best, count
        if j >= n_out:
            best, count = min(best, spent), count + 1
            return
        own_end = min(max_draft_len, len(trace.chain(j)), max(trace.budget - j - 1, 0))
        for k in range(min(own_end, max_draft_len if k_limit is None else k_limit) + 1):
            seconds, nxt = block(trace, costs, max_draft_len, stop_mode, j, k, decide_s)
            walk(nxt, spent + seconds)

    walk(0, 0.0)
    return best, count


def cases(n_traces: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    for i in range(n_traces):
        max_draft_len = int(rng.integers(2, 5))  # the env's; chains may be recorded longer (then cut by it)
        yield random_trace(rng, i, recorded_len=max_draft_len + int(rng.integers(0, 2))), max_draft_len


def mismatches(planner) -> tuple[int, int]:
    """(cases where `planner`'s optimal time differs from exhaustive search, cases) over traces, modes, shapes."""
    wrong = total = 0
    for trace, max_draft_len in cases():
        for stop_mode in STOP_MODES:
            for shape, costs in COST_SHAPES.items():
                best, count = exhaustive(trace, costs, max_draft_len, stop_mode, decide_s=DECIDE_S[shape])
                assert count >= 1
                wrong += planner(trace, costs, max_draft_len, stop_mode, DECIDE_S[shape]) != best
                total += 1
    return wrong, total


def dp(trace, costs, max_draft_len, stop_mode, decide_s):
    return optimal_plan(trace, costs, max_draft_len, stop_mode, decide_s=decide_s).time_s


def test_oracle_dp_equals_exhaustive_search_exactly():
    wrong, total = mismatches(dp)
    assert total == 12 * len(STOP_MODES) * len(COST_SHAPES) and wrong == 0


@pytest.mark.parametrize("stop_mode", STOP_MODES)
@pytest.mark.parametrize("shape", sorted(COST_SHAPES))
def test_the_dp_plan_is_followed_to_its_own_time(stop_mode, shape):
    """The plan the DP returns (its k per block start), timed by the simulation, costs exactly its time_s, and
    `optimal_rate` is total tokens over the total of those times."""
    costs, decide_s, max_draft_len = COST_SHAPES[shape], DECIDE_S[shape], 3
    rng = np.random.default_rng(3)
    traces = [random_trace(rng, i, recorded_len=max_draft_len) for i in range(6)]
    times = []
    for trace in traces:
        plan = optimal_plan(trace, costs, max_draft_len, stop_mode, decide_s=decide_s)
        seconds, _ = plan_time(trace, costs, max_draft_len, stop_mode, lambda j, _end, p=plan: int(p.k[j]),
                               decide_s)
        assert seconds == plan.time_s and plan.tokens == len(trace.output)
        assert seconds == exhaustive(trace, costs, max_draft_len, stop_mode, decide_s=decide_s)[0]
        times.append(seconds)
    assert optimal_rate(traces, costs, max_draft_len, stop_mode, decide_s=decide_s) == (
        sum(len(t.output) for t in traces) / sum(times))


def test_the_comparison_catches_wrong_planners():
    """Mutants of the planner: optimal but limited to k <= 1 or k <= 2, and the optimum made 1 % slower."""
    for k_limit in (1, 2):
        wrong, total = mismatches(lambda t, c, m, s, d, limit=k_limit: exhaustive(t, c, m, s, limit, d)[0])
        assert wrong > 0, f"a planner limited to k <= {k_limit} went unnoticed in {total} cases"
    wrong, total = mismatches(lambda *args: dp(*args) * 1.01)
    assert wrong == total
    wrong, _ = mismatches(lambda t, c, m, s, d: optimal_plan(t, c, min(m, 2), s, decide_s=d).time_s)  # DP, k <= 2
    assert wrong > 0
    wrong, _ = mismatches(lambda t, c, m, s, d: dp(t, c, m, s, 0.0))  # a planner blind to decision costs
    assert wrong > 0
    blind = lambda t, c, m, s, d: dp(t, dataclasses.replace(c, catch_up_s=0.0), m, s, d)  # noqa: E731
    wrong, _ = mismatches(blind)  # a planner blind to the drafter's catch-up
    assert wrong > 0


@pytest.mark.parametrize("stop_mode", STOP_MODES)
@pytest.mark.parametrize("shape", ["decisions", "catch-up"])
def test_the_simulation_times_plans_as_the_replay_env_does(noisy_traces_small, stop_mode, shape):
    """The block rules of the simulation are the env's: random plans followed through `EBSD-Replay-v1` (charging
    each decision, and each block's catch-up) on a recorded trace cost, to the bit, what `plan_time` says."""
    traces = TraceSet.load(noisy_traces_small)
    costs, decide_s = COST_SHAPES[shape], DECIDE_S[shape]
    env = ReplayEnv(traces, stop_mode=stop_mode, cost_model=costs, decide_s=decide_s)
    rng = np.random.default_rng(7)
    for i in range(len(traces)):
        for _ in range(3):
            expected, plan = plan_time(traces[i], costs, env.max_draft_len, stop_mode,
                                       lambda j, end: int(rng.integers(0, end + 1)), decide_s)
            env.reset(options={"prompt_index": i})
            info = {}
            for j, k, own_end in plan:
                stop_at = k
                if stop_mode == "exclude" and k > 0:  # a stop discards its token; a whole draft needs continue
                    stop_at = k + 1 if k < own_end else -1
                n = 0
                while True:
                    action = 1 if n == stop_at else 0
                    *_, terminated, truncated, info = env.step(action)
                    if info["verified"]:
                        assert info["drafted"] == k and info["generated"] >= j, (j, k, info)
                        break
                    n += 1
            assert terminated or truncated
            assert info["episode_stats"]["decode_s"] == expected


@pytest.fixture(scope="module")
def noisy_traces_small(noisy_pair, tmp_path_factory):
    from ebsd_env.envs.ebsd import normalise_prompts
    from ebsd_env.replay.record import record

    out = tmp_path_factory.mktemp("traces") / "small"
    prompts = normalise_prompts(["the cat sat on", "hello world, how are", "1 2 3 4 5"])
    record(noisy_pair, prompts, out, max_draft_len=4, max_new_tokens=20, shard_size=4, progress=False,
           calibrate_clock=False)
    return out
