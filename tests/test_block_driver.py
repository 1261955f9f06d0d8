"""The draft/verify driver (`DraftState.run_block`): every caller's blocks end where they ended before it.

Each caller (generate, calibration, the recorder, the bench, and the env, which takes one step per transition)
is compared on tiny pairs with a copy of the block loop it had before the driver. The copies are written without
`BlockRules`, with the stop conditions spelled out (k tokens, a drafted EOS, no room left), so a broken rule in
the driver or in `BlockRules.draft_ends` makes every caller's test here fail.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from ebsd_env.decoding.decoder import DecoderError, SpeculativeDecoder
from ebsd_env.decoding.models import derive_drafter
from ebsd_env.decoding.multi import MultiDraftDecoder, multi_pair
from ebsd_env.envs.ebsd import EBSDEnv
from ebsd_env.envs.multi import MultiEnv
from ebsd_env.timing.cost_model import CostModel

PROMPT = "the cat sat on the mat and"
TOY_COSTS = CostModel(draft_s=0.025, verify_points=((1, 0.1), (2, 0.105), (9, 0.14), (17, 0.18)), source="toy")


@pytest.fixture(scope="module")
def eos_pair(noisy_pair, eos_every_third):
    return eos_every_third(noisy_pair)


@pytest.fixture(scope="module")
def pairs(noisy_pair, copy_pair, eos_pair):
    return {"noisy": noisy_pair, "copy": copy_pair, "eos": eos_pair}


def old_block(decoder, k: int, on_draft=None, keep_draft: bool = True):
    """One block as the callers wrote it by hand before the driver (without `BlockRules`)."""
    while k and decoder.draft_room > 0 and len(decoder.draft_steps) < k:
        step = decoder.draft()
        if on_draft is not None:
            on_draft(step)
    if not keep_draft:
        while decoder.draft_steps:
            decoder.discard_draft()
    return decoder.verify()


def old_generate(decoder, prompt, k: int, budget: int) -> dict:
    decoder.start(prompt, budget)
    while not decoder.finished:
        old_block(decoder, k)
    return _blocks(decoder.stats.as_dict(), decoder.new_tokens)


def _blocks(stats: dict, output) -> dict:
    return {"output": list(output), **{key: stats[key] for key in ("draft_lengths", "accepted_lengths", "blocks",
                                                                   "discarded")}}


CASES = [(name, k, budget) for name in ("noisy", "copy", "eos") for k in (0, 1, 3, 8) for budget in (5, 23)]


@pytest.mark.parametrize(("name", "k", "budget"), CASES)
def test_generate_ends_its_blocks_as_before(pairs, name, k, budget):
    pair = pairs[name]
    new = SpeculativeDecoder(pair).generate(PROMPT, k, max_new_tokens=budget)
    old = old_generate(SpeculativeDecoder(pair), PROMPT, k, budget)
    assert _blocks(new.stats, new.token_ids) == old
    if k >= 3 and budget > 5 and name != "noisy":  # the rules that end a draft early ran: budget, drafted EOS
        assert min(old["draft_lengths"]) < k


def test_a_multi_drafter_decoder_runs_the_same_blocks(noisy_pair):
    pair = multi_pair(noisy_pair, [noisy_pair.drafter, derive_drafter(noisy_pair.verifier, "ngram")],
                      ["noisy", "ngram"])
    for k in (0, 2, 5):
        new = MultiDraftDecoder(pair).generate(PROMPT, k, max_new_tokens=17)
        assert _blocks(new.stats, new.token_ids) == old_generate(MultiDraftDecoder(pair), PROMPT, k, 17)


# ---------------------------------------------------------------- the recorder
def old_record(decoder, prompt, max_draft_len: int, budget: int) -> dict:
    from ebsd_env.replay.trace import SIGNALS, step_signals

    decoder.start(prompt, budget)
    offsets, tokens, signals = [0], [], {name: [] for name in SIGNALS}

    def keep(step):
        tokens.append(step.token)
        for signal, value in step_signals(step).items():
            signals[signal].append(value)

    while not decoder.finished:
        old_block(decoder, max_draft_len, keep, keep_draft=False)
        offsets.append(len(tokens))
    return {"output": list(decoder.new_tokens), "offsets": offsets, "tokens": tokens, "signals": signals}


@pytest.mark.parametrize("name", ["noisy", "eos"])
@pytest.mark.parametrize(("max_draft_len", "budget"), [(1, 9), (4, 9), (6, 20)])
def test_recorded_chains_are_the_old_recorders(pairs, name, max_draft_len, budget):
    from ebsd_env.replay.record import record_trace

    pair = pairs[name]
    trace = record_trace(SpeculativeDecoder(pair), PROMPT, max_draft_len, budget)
    old = old_record(SpeculativeDecoder(pair), PROMPT, max_draft_len, budget)
    assert trace.output == old["output"]
    assert trace.chain_offsets.tolist() == old["offsets"]
    assert trace.chain_tokens.tolist() == old["tokens"]
    for signal, values in old["signals"].items():
        np.testing.assert_array_equal(trace.signals[signal], np.asarray(values, dtype=np.float64))
    lengths = np.diff(trace.chain_offsets)
    assert lengths[-1] == 0  # the last token: no room to draft
    if name == "noisy":
        assert lengths.max() == min(max_draft_len, budget - 1)  # chains run to the cap, shorter near the end
    else:
        assert lengths.max() < max_draft_len or max_draft_len == 1  # a drafted EOS ends a chain


# ---------------------------------------------------------------- calibration
def old_measure(decoder, text_prompt, fed_points, repeats: int, contexts: list):
    """`calibration._measure` before the driver, its loop as it was, but for one change made since: fed = 1 is
    timed `BASELINE_BLOCKS` times a round."""
    from ebsd_env.timing.calibration import BASELINE_BLOCKS

    budget = max(fed_points) + 1
    draft_times, signal_times, verify_times = [], [], {fed: [] for fed in fed_points}
    for _ in range(repeats):
        for fed in [fed for point in fed_points for fed in [point] * (BASELINE_BLOCKS if point == 1 else 1)]:
            for _attempt in range(10):
                if decoder.finished or decoder.remaining < budget:
                    decoder.start(text_prompt)
                context = len(decoder.tokens)
                steps = []
                while len(steps) < fed - 1 and decoder.draft_room > 0:
                    step = decoder.draft()
                    own_s = step.time_s
                    step.signals()
                    steps.append((own_s, step.signal_s))
                result = decoder.verify()
                draft_times.extend(own_s for own_s, _ in steps)
                signal_times.extend(signal_s for _, signal_s in steps)
                if len(steps) == fed - 1:
                    verify_times[fed].append(result.verify_time_s)
                    contexts.append(context)
                    break
    return draft_times, verify_times, signal_times


class CallLog:
    """Wraps a decoder's draft and verify to log each call's own timer as it returns (what calibration times)."""

    def __init__(self, decoder):
        self.draft_s, self.verify = [], []
        self.steps = []  # (position in the block, seconds, whether the step prefilled the drafter)
        draft, verify = decoder.draft, decoder.verify

        def logged_draft():
            prefills = not decoder.drafter_started
            step = draft()
            self.draft_s.append(step.time_s)
            self.steps.append((step.position, step.time_s, prefills))
            return step

        def logged_verify():
            result = verify()
            self.verify.append((result.drafted, result.verify_time_s))
            return result

        decoder.draft, decoder.verify = logged_draft, logged_verify


@pytest.mark.parametrize(("name", "fed_points"), [("noisy", (1, 2, 3, 5, 9)), ("eos", (1, 2, 3))])
def test_calibration_times_the_same_calls_as_before(pairs, name, fed_points):
    from ebsd_env.timing.calibration import BASELINE_BLOCKS, _measure, _warm_decoders

    pair = pairs[name]
    runs = []
    for measure in ("new", "old"):
        decoder = _warm_decoders(pair, [(PROMPT, 40)], 0.0, 1.0)[0]
        log, contexts = CallLog(decoder), []
        if measure == "new":
            draft_times, verify_times, signal_times = _measure(decoder, PROMPT, fed_points, 2, PROMPT, contexts)
            # A block's first step apart from its later ones (the catch-up), without a first step that prefilled
            # the drafter (once per sequence).
            assert draft_times.first == [s for position, s, prefills in log.steps if position == 1 and not prefills]
            assert draft_times.later == [s for position, s, _ in log.steps if position > 1]
        else:
            draft_times, verify_times, signal_times = old_measure(decoder, PROMPT, fed_points, 2, contexts)
            # What is timed: each draft call's own seconds before its signals were read.
            assert draft_times == log.draft_s
        # Each kept verification's own seconds.
        for fed, times in verify_times.items():
            assert set(times) <= {seconds for drafted, seconds in log.verify if drafted == fed - 1}
        assert len(signal_times) == len(log.draft_s)
        runs.append(([drafted for drafted, _ in log.verify], len(log.draft_s),
                     {fed: len(times) for fed, times in verify_times.items()}, contexts, list(decoder.tokens)))
    assert runs[0] == runs[1]
    assert runs[0][2] == {fed: 2 * (BASELINE_BLOCKS if fed == 1 else 1) for fed in fed_points}


def test_calibration_leaves_out_the_drafter_prefill_and_prices_the_catch_up(pairs):
    """A sequence's first draft step prefills the drafter (once per sequence): not a block's catch-up. Calibration
    leaves it out of `DraftTimes.first`; `catch_up_cost` is the first steps' extra over later ones, never below 0."""
    from ebsd_env.timing.calibration import BASELINE_BLOCKS, DraftTimes, _measure, catch_up_cost

    decoder = SpeculativeDecoder(pairs["noisy"], max_new_tokens=40)
    decoder.start(PROMPT)  # not warmed: the first timed block's first step prefills the drafter
    log = CallLog(decoder)
    draft_times, _, _ = _measure(decoder, PROMPT, (1, 2, 3), 1, PROMPT, [])
    assert [prefills for *_, prefills in log.steps] == [True, False, False]  # blocks of 1 and 2 steps
    assert len(log.verify) == BASELINE_BLOCKS + 2  # fed = 1 timed BASELINE_BLOCKS times, fed 2 and 3 once
    assert draft_times.first == [log.steps[1][1]] and draft_times.later == [log.steps[2][1]]
    groups = [DraftTimes(first=[0.005, 0.005], later=[0.003] * 4), DraftTimes(first=[0.004], later=[0.003])]
    assert catch_up_cost(groups) == pytest.approx(0.0015)
    assert catch_up_cost([DraftTimes(first=[0.002], later=[0.003])]) == 0.0  # cheaper first step: noise
    assert catch_up_cost([DraftTimes(first=[0.002])]) == 0.0  # no later step timed: nothing to compare


# ---------------------------------------------------------------- the bench
def old_bench_call(runs, name: str, ids: list[int], k: int):
    """`OurRuns.__call__` before the driver (its loop and records as they were)."""
    from eval.bench.methods import label

    decoder = runs.decoders[name]
    decoder.start(ids)
    while not decoder.finished:
        while k and decoder.draft_room > 0 and len(decoder.draft_steps) < k:
            start = time.perf_counter()
            step = decoder.draft()
            if step.position >= 2:
                runs.drafter_steps[name].append(step.forward_s)
                runs.drafter_calls[name].append(time.perf_counter() - start)
        start = time.perf_counter()
        result = decoder.verify()
        if not k:
            runs.verifier_steps.append(result.forward_s)
            runs.verifier_calls.append(time.perf_counter() - start)
        elif result.drafted:
            runs.verify_steps[name].setdefault(result.drafted, []).append(result.forward_s)
    stats = decoder.stats.as_dict()
    if k:
        runs.acceptance.setdefault(label(name, k, runs.names), []).append((stats["accepted"], stats["drafted"]))
    if k == runs.kmax:
        runs.positions[name][0].extend(stats["draft_lengths"])
        runs.positions[name][1].extend(stats["accepted_lengths"])
    return decoder.new_tokens


def _bench_record(runs) -> dict:
    return {"drafter_steps": {n: len(v) for n, v in runs.drafter_steps.items()},
            "drafter_calls": {n: len(v) for n, v in runs.drafter_calls.items()},
            "verifier": (len(runs.verifier_steps), len(runs.verifier_calls)),
            "verify_steps": {n: {d: len(v) for d, v in by.items()} for n, by in runs.verify_steps.items()},
            "acceptance": runs.acceptance, "positions": runs.positions}


def test_the_bench_records_the_same_calls_as_before(pairs):
    from eval.bench.methods import OurRuns

    names = ["noisy", "eos"]
    ids = SpeculativeDecoder(pairs["noisy"]).encode_prompt(PROMPT)
    records, outputs = [], []
    for call in ("new", "old"):
        runs = OurRuns({name: SpeculativeDecoder(pairs[name], max_new_tokens=21) for name in names}, names, 6)
        made = []
        for name in names:
            for k in (0, 2, 6):
                made.append(list(runs(name, ids, k)[0] if call == "new" else old_bench_call(runs, name, ids, k)))
        outputs.append(made)
        records.append(_bench_record(runs))
        assert all(t >= 0 for t in runs.verifier_calls + runs.drafter_calls["noisy"])
    assert records[0] == records[1] and outputs[0] == outputs[1]


# ---------------------------------------------------------------- the env (one step per transition)
def _episode(env, action: int, prompt_index: int) -> dict:
    env.reset(options={"prompt_index": prompt_index})
    done = False
    while not done:
        _, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    return info["episode_stats"]


@pytest.mark.parametrize("name", ["noisy", "eos"])
@pytest.mark.parametrize(("action", "min_draft_len", "max_draft_len", "k"), [(0, 0, 3, 3), (0, 0, 8, 8), (1, 1, 4, 1)])
def test_env_fixed_policies_end_blocks_as_the_old_loop(pairs, name, action, min_draft_len, max_draft_len, k):
    """A policy that always continues (0) plays blocks that end by themselves (at max_draft_len, a drafted EOS, no
    room): the old fixed-k loop's blocks; with min_draft_len 1, one that always stops (1) verifies the one token
    drafted at each block's start (k = 1)."""
    pair = pairs[name]
    env = EBSDEnv(pair, prompts=[PROMPT], clock="model", cost_model=TOY_COSTS, max_new_tokens=19,
                  max_draft_len=max_draft_len, min_draft_len=min_draft_len)
    stats = _episode(env, action, 0)
    ids = env.decoder.tokens[: env.decoder.prompt_len]
    old = old_generate(SpeculativeDecoder(pair), ids, k, 19)
    assert _blocks(stats, stats["output_ids"]) == old


def test_the_multi_drafter_env_ends_blocks_as_the_old_loop(noisy_pair):
    pair = multi_pair(noisy_pair, [noisy_pair.drafter, derive_drafter(noisy_pair.verifier, "ngram")],
                      ["noisy", "ngram"])
    env = MultiEnv(pair, prompts=[PROMPT], clock="model", cost_model=[TOY_COSTS, TOY_COSTS], max_new_tokens=19,
                   max_draft_len=4)
    stats = _episode(env, 0, 0)  # continue: drafter 0 drafts every block to its end
    ids = env.decoder.tokens[: env.decoder.prompt_len]
    assert _blocks(stats, stats["output_ids"]) == old_generate(MultiDraftDecoder(pair), ids, 4, 19)


# ---------------------------------------------------------------- the driver itself
def test_run_block_hooks_see_every_call_and_refuse_bad_k(noisy_pair):
    decoder = SpeculativeDecoder(noisy_pair, max_new_tokens=30)
    decoder.start(PROMPT)
    drafted, verified = [], []
    result = decoder.run_block(4, lambda step, s: drafted.append((step.position, s)),
                               lambda result, s: verified.append((result, s)))
    assert [position for position, _ in drafted] == [1, 2, 3, 4] and all(s > 0 for _, s in drafted)
    assert verified[0][0] is result and verified[0][1] > 0 and result.drafted == 4
    result = decoder.run_block(3, keep_draft=False)  # the recorder's block: the chain drafted, none verified
    assert (result.drafted, result.discarded, len(result.emitted)) == (0, 3, 1)
    assert decoder.run_block(0).drafted == 0
    for bad in (-1, 1.5, True, None):
        with pytest.raises(ValueError, match="k must be an int"):
            decoder.run_block(bad)
    decoder.generate(PROMPT, 2)
    with pytest.raises(DecoderError, match="finished"):
        decoder.run_block(2)
