"""The context-aware clock: costs that grow with the context, calibrated over context lengths, and the
validation against the wall clock at every k that refuses a clock off by more than its tolerance."""

from __future__ import annotations

import dataclasses
import types

import pytest

from ebsd_env.timing import calibration, prompt_clock, validation
from ebsd_env.timing.cost_model import CostModel, block_contexts, price

FLAT = ((1, 0.05), (2, 0.08), (5, 0.10))
GRID = CostModel(0.01, FLAT, context_points=(100, 1100), verify_grid=((0.05, 0.08, 0.10), (0.07, 0.10, 0.14)),
                 draft_grid=(0.01, 0.02))


def test_costs_interpolate_in_both_axes_and_extrapolate_in_context():
    assert GRID.verify_cost(1) == 0.05 and GRID.draft_cost() == 0.01  # context-free: the first row
    assert GRID.verify_cost(1, 100) == pytest.approx(0.05)
    assert GRID.verify_cost(1, 600) == pytest.approx(0.06)
    assert GRID.verify_cost(3, 1100) == pytest.approx(0.10 + (0.14 - 0.10) / 3)
    assert GRID.verify_cost(1, 2100) == pytest.approx(0.09)  # linear beyond the last context point
    assert GRID.draft_cost(600) == pytest.approx(0.015)
    # A steep fit extrapolated far below the first point never makes a step free.
    assert GRID.verify_cost(1, -10_000) == pytest.approx(0.05 * 0.05)
    # Past the last fed point: the last slope at that context.
    assert GRID.verify_cost(8, 1100) == pytest.approx(0.14 + 3 * (0.14 - 0.10) / 3)


def test_context_grid_round_trips_and_context_free_files_are_unchanged(tmp_path):
    GRID.save(tmp_path / "grid.json")
    assert CostModel.load(tmp_path / "grid.json") == GRID
    plain = CostModel(0.01, FLAT)
    assert set(plain.to_dict()) == {"draft_s", "verify_points", "source", "fingerprint", "validation"}
    assert not plain.context_aware and GRID.context_aware


@pytest.mark.parametrize("bad, match", [
    (dict(context_points=(100,), verify_grid=((0.05, 0.08, 0.1),), draft_grid=(0.01,)), "strictly increasing"),
    (dict(context_points=(100, 50), verify_grid=((0.05, 0.08, 0.1),) * 2, draft_grid=(0.01,) * 2), "increasing"),
    (dict(context_points=(100, 200), verify_grid=((0.05, 0.08),) * 2, draft_grid=(0.01,) * 2), "one column"),
    (dict(context_points=(100, 200), verify_grid=((0.05, 0.08, 0.1),) * 2, draft_grid=(0.01,)), "draft_grid"),
    (dict(context_points=(100, 200), verify_grid=((0.05, 0.0, 0.1),) * 2, draft_grid=(0.01,) * 2), "> 0"),
])
def test_bad_context_grids_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        CostModel(0.01, FLAT, **bad)


def test_blocks_are_priced_at_their_own_context():
    contexts = block_contexts(100, [2, 0, 3])
    assert contexts == [100, 103, 104]
    draft_s, verify_s = price(GRID, [2, 1, 3], discarded=0, contexts=contexts)
    assert draft_s == pytest.approx(2 * GRID.draft_cost(100) + GRID.draft_cost(103) + 3 * GRID.draft_cost(104))
    assert verify_s == pytest.approx(GRID.verify_cost(3, 100) + GRID.verify_cost(2, 103) + GRID.verify_cost(4, 104))
    with pytest.raises(ValueError, match="one context per block"):
        price(GRID, [2, 1], contexts=[1])


def test_calibration_contexts_span_the_prompts():
    assert calibration.calibration_contexts([40, 300, 1200], 48) == (40, 644, 1248)
    assert calibration.calibration_contexts([50], 0) == (50, 114)  # points a budget apart at least
    assert calibration.calibration_contexts([20, 27], 8) == (20, 84)
    with pytest.raises(ValueError, match="64 apart"):
        calibration.calibrate(None, contexts=(8, 40))
    with pytest.raises(ValueError):
        calibration.calibration_contexts([], 48)


def test_calibration_over_contexts_fills_the_grid(noisy_pair):
    model = calibration.calibrate(noisy_pair, repeats=4, contexts=(8, 80), validate=False)
    assert model.context_aware and len(model.verify_grid) == 2 and len(model.draft_grid) == 2
    # Each row is measured after its own context (its median context lies within one budget of it).
    assert 8 <= model.context_points[0] < 8 + 64 and 80 <= model.context_points[1] < 80 + 64
    for row in model.verify_grid:  # monotone, except where every context measured a fall (kept: the machine's)
        runs = calibration.isotonic_between(list(row), [calibration.DEFAULT_FED_POINTS.index(f)
                                                        for f in model.measured_falls])
        assert runs == list(row)
    assert model.verify_points == tuple(zip(calibration.DEFAULT_FED_POINTS, model.verify_grid[0], strict=True))


def test_clock_validation_reports_every_k_and_refuses_a_wrong_clock(noisy_pair):
    prompts = ["the cat sat on the mat", "a b c d e f g"]
    costs = calibration.calibrate(noisy_pair, repeats=2, validate=False)
    # A clock that is exactly right passes at any tolerance: price the generations with the wall times.
    report = validation.validate_clock(noisy_pair, costs, prompts, ks=(0, 1, 2), max_new_tokens=12, rounds=1,
                                       tolerance=10.0)
    assert [p["k"] for p in report["points"]] == [0, 1, 2] and all(p["runs"] == 2 for p in report["points"])
    assert report["max_abs_error"] == max(abs(p["error"]) for p in report["points"])
    # What the generations did is reported beside their times: k = 0 drafts nothing, every block of k drafts at
    # most k tokens, and the two prompts' 12-token budgets take at least 12 / (k + 1) blocks each.
    points = {p["k"]: p for p in report["points"]}
    assert points[0]["drafted_tokens"] == 0 and points[0]["blocks"] >= 2 * 12 // 1 - 2
    for k in (1, 2):
        assert 0 < points[k]["drafted_tokens"] <= k * points[k]["blocks"] and points[k]["blocks"] >= 2 * 12 // (k + 1)
    # A clock that charges ten times the calibrated costs is refused, naming a k and its error (ten times: even a
    # busy machine's wall time does not come within 50 % of it).
    wrong = CostModel(costs.draft_s * 10, tuple((f, s * 10) for f, s in costs.verify_points))
    with pytest.raises(validation.ClockValidationError, match=r"k=\d+ \+\d+\.\d%"):
        validation.validate_clock(noisy_pair, wrong, prompts, ks=(0, 1), max_new_tokens=12, rounds=1,
                                  tolerance=0.5)
    assert "| k | measured s |" in validation.format_validation(report)


def test_record_calibrates_over_its_prompts_contexts_and_keeps_the_validation(noisy_pair, tmp_path, capsys):
    from ebsd_env.replay.record import record

    rows = [{"id": "a", "category": "x", "prompt": "the cat sat on the mat " * 6},
            {"id": "b", "category": "y", "prompt": "a b"}]
    record(noisy_pair, rows, tmp_path, max_draft_len=4, max_new_tokens=8, progress=True, clock_tolerance=10.0)
    costs = CostModel.load(tmp_path / "cost_model.json")
    assert costs.context_aware and costs.fingerprint["clock_tolerance"] == 10.0
    assert [p["k"] for p in costs.validation["points"]] == list(validation.VALIDATION_KS)
    assert all(p["runs"] == 2 for p in costs.validation["points"])  # one prompt per category, one round
    assert "| k | measured s | predicted s | error |" in capsys.readouterr().out


def test_a_clock_refused_by_its_validation_is_not_saved_and_the_traces_are_kept(noisy_pair, tmp_path, monkeypatch):
    from ebsd_env.replay import record as recording

    def off(*args, **kwargs):
        raise validation.ClockValidationError("the clock predicts fixed-k generations at k=4 +12.0% off")

    monkeypatch.setattr(prompt_clock, "judge_clock", off)
    rows = [{"id": "a", "category": "x", "prompt": "the cat sat on the mat"}]
    with pytest.raises(validation.ClockValidationError, match="k=4"):
        recording.record(noisy_pair, rows, tmp_path, max_draft_len=4, max_new_tokens=8, progress=False,
                         clock_tolerance=0.05)
    assert list(tmp_path.glob("shard-*.parquet")) and not (tmp_path / "cost_model.json").exists()
    # A rerun resumes: the shards are complete, only the clock is calibrated (and here accepted) again.
    monkeypatch.undo()
    summary = recording.record(noisy_pair, rows, tmp_path, max_draft_len=4, max_new_tokens=8, progress=False,
                               clock_tolerance=10.0)
    assert summary["recorded_shards"] == 0 and (tmp_path / "cost_model.json").is_file()


def test_calibration_charges_the_expected_cost_of_a_call_not_the_typical_one():
    # Call times are skewed to the right; the clock's totals must match the wall clock's sums, so a call is
    # charged its mean, and only a preempted call (far above the median) is left out.
    skewed = [1.0] * 6 + [1.3] * 4
    assert calibration.expected_cost(skewed) == pytest.approx(1.12)  # the median (1.0) would charge 11 % less
    assert calibration.expected_cost([1.0, 1.0, 1.2, 10.0]) == pytest.approx(3.2 / 3)  # 10 s: preempted
    assert calibration.expected_cost([2.0]) == 2.0
    with pytest.raises(ValueError, match="at least one"):
        calibration.expected_cost([])


def test_anchored_error_forgives_a_machine_that_drifts_but_not_a_wrong_shape(monkeypatch):
    """The speed-up error: a wall clock that runs 1.3x, then 0.8x, ... the model's time moves every `error` and no
    `anchored_error`; one that is 10 % slower than the model at k = 2 only shows there."""
    costs = CostModel(0.01, ((1, 0.05), (2, 0.06), (3, 0.065), (5, 0.07), (9, 0.08), (17, 0.1)))
    drifts = iter([1.3, 1.3, 1.3, 0.8, 0.8, 0.8, 1.1, 1.1, 1.1, 0.9, 0.9, 0.9])  # per prompt, its 3 k's together
    shape = {0: 1.0, 1: 1.0, 2: 1.1}

    class FakeDecoder:
        def __init__(self, *args, **kwargs):
            pass

        def generate(self, prompt, k):
            lengths = [k] * 4
            stats = {"prompt_tokens": 10, "accepted_lengths": lengths, "draft_lengths": lengths, "discarded": 0}
            model_s = sum(price(costs, lengths, 0, block_contexts(10, lengths)))
            return types.SimpleNamespace(stats={**stats, "decode_s": model_s * next(drifts) * shape[k]})

    monkeypatch.setattr(validation, "SpeculativeDecoder", FakeDecoder)
    report = validation.validate_clock(None, costs, ["p", "q"], ks=(0, 1, 2), rounds=2, tolerance=10.0)
    errors = {p["k"]: p for p in report["points"]}
    assert abs(errors[0]["error"]) > 0.01 and abs(errors[1]["error"]) > 0.01  # the drift, in every absolute error
    assert errors[0]["anchored_error"] == pytest.approx(0.0, abs=1e-12)
    assert errors[1]["anchored_error"] == pytest.approx(0.0, abs=1e-12)
    assert errors[2]["anchored_error"] == pytest.approx(1 / 1.1 - 1)
    assert report["max_abs_anchored_error"] == pytest.approx(1 - 1 / 1.1)
    assert "speed-up error" in validation.format_validation(report)


def test_calibrate_for_times_one_validation_prompt_between_each_two_calibration_rounds(noisy_pair, monkeypatch):
    """The validation's generations (the first prompt of each category) are timed one prompt at a time between
    the calibration's rounds (every context group measured once a round), so both sample the machine over the same
    minutes; they are priced by the finished clock, all prompts together."""
    events, seen = [], {}
    measure = calibration._measure

    def logged_measure(decoder, prompt, points, repeats, *args, **kwargs):
        events.append(("measure", repeats))
        return measure(decoder, prompt, points, repeats, *args, **kwargs)

    def capture(pair, prompts, **kwargs):
        events.append(("validate", tuple(prompts)))
        run = {"round": 0, "prompt": 0, "k": 0, "measured_s": 1.0, "draft_lengths": [], "discarded": 0,
               "contexts": []}
        return {"runs": [run], "ks": (0,), "prompts": 1, "rounds": 1, "max_new_tokens": 8}

    def judge(costs, timed, tolerance):
        seen["judged"] = timed
        return {"points": [], "max_abs_error": 0.0}

    monkeypatch.setattr(calibration, "_measure", logged_measure)
    monkeypatch.setattr(prompt_clock, "time_generations", capture)
    monkeypatch.setattr(prompt_clock, "judge_clock", judge)
    monkeypatch.setattr(prompt_clock, "format_validation", lambda report, one_line=False: "")
    prompts = ["a b c", "d e f", "g h i", "j k l", "m n o", "p q r", "s t u", "v w x"]
    categories = ["x", "x", "y", "z", "u", "v", "w", "t"]  # 7 categories: 7 prompts checked, 8 rounds
    prompt_clock.calibrate_for(noisy_pair, prompts, categories, 8, progress=False, tolerance=10.0)
    checked = [e for e in events if e[0] == "validate"]
    assert checked == [("validate", (p,)) for p in ["a b c", *prompts[2:]]]  # one at a time, in order
    assert all(e == ("measure", 1) for e in events if e[0] == "measure")  # every group once a round
    groups = events.index(checked[0])
    assert groups >= 2
    # measure every group, validate one prompt, measure every group, ...: 8 rounds around 7 prompts
    assert events == ([("measure", 1)] * groups + [checked[0]]) + sum(
        ([("measure", 1)] * groups + [c] for c in checked[1:]), []) + [("measure", 1)] * groups
    assert [run["prompt"] for run in seen["judged"]["runs"]] == list(range(7)) and seen["judged"]["prompts"] == 7
    with pytest.raises(ValueError, match="tolerance must be > 0"):
        prompt_clock.calibrate_for(noisy_pair, ["a"], ["x"], 8, progress=False, tolerance=0.0)


@pytest.mark.parametrize("repeats, calls, follows", [
    (5, 1, [1]),  # one call: after the first half of the rounds (2 of 5)
    (5, 7, list(range(7))),  # more calls than gaps: one round between each two
    (5, 2, [0, 2]),
    (3, 0, []),
])
def test_calls_are_spread_evenly_between_the_calibration_rounds(repeats, calls, follows):
    log = []
    calibration._interleaved(lambda rounds: log.append(("round", rounds)), repeats,
                             [lambda j=j: log.append(("call", j)) for j in range(calls)])
    rounds = [i for i, event in enumerate(log) if event[0] == "round"]
    assert len(rounds) == max(repeats, calls + 1) and all(log[i] == ("round", 1) for i in rounds)
    assert [e for e in log if e[0] == "call"] == [("call", j) for j in range(calls)]
    # each call comes right after the round it follows
    assert [sum(1 for e in log[:log.index(("call", j))] if e[0] == "round") - 1 for j in range(calls)] == follows


def test_generations_timed_apart_are_joined_with_their_prompts_numbered_apart():
    def part(prompts, measured):
        return {"runs": [{"round": 0, "prompt": p, "k": 0, "measured_s": measured} for p in range(prompts)],
                "ks": (0,), "prompts": prompts, "rounds": 1, "max_new_tokens": 8}

    joined = validation.join_generations([part(1, 1.0), part(2, 2.0), part(1, 3.0)])
    assert [(r["prompt"], r["measured_s"]) for r in joined["runs"]] == [(0, 1.0), (1, 2.0), (2, 2.0), (3, 3.0)]
    assert joined["prompts"] == 4 and joined["ks"] == (0,)
    with pytest.raises(ValueError, match="alike"):
        validation.join_generations([part(1, 1.0), {**part(1, 1.0), "rounds": 2}])
    with pytest.raises(ValueError, match="at least one"):
        validation.join_generations([])


def test_a_fall_every_context_measured_is_kept_and_noise_is_pooled(monkeypatch):
    """On a 2-core AVX2 EPYC verifying 3 tokens took 95 ms and 4 tokens 80 ms, reproducibly: a clock forced to be
    monotone priced k = 2 8 % short and k = 3 8 % long. `calibrate` keeps a fall that every context group measured
    (means and medians) beyond `FALL_MARGIN`, pools one that only some group saw, and `CostModel` still refuses a
    fall anywhere else."""
    fed_points = (1, 2, 3, 4, 5)
    odd_dear = {1: 0.048, 2: 0.075, 3: 0.095, 4: 0.080, 5: 0.090}
    curves = [odd_dear, {**odd_dear, 3: 0.0955}]  # two contexts, both with the fall at 4

    def fake_measure(decoder, prompt, points, repeats, name, contexts=None):
        curve = curves[fake_measure.calls % len(curves)]
        fake_measure.calls += 1
        if contexts is not None:
            contexts.extend([decoder] * repeats)
        return calibration.DraftTimes(later=[0.004] * repeats), {fed: [curve[fed]] * repeats for fed in points}, []

    fake_measure.calls = 0
    monkeypatch.setattr(calibration, "_measure", fake_measure)
    decoders = [8, 80]  # stand-ins: the fake measure only records them as contexts
    rows, *_, falls = calibration._monotone_curves(decoders, [("a", 64), ("b", 64)], fed_points, 3, "p", 0.2, 1)
    assert falls == (4,)
    assert rows[0] == pytest.approx([0.048, 0.075, 0.095, 0.080, 0.090])
    model = CostModel(draft_s=0.004, verify_points=tuple(zip(fed_points, rows[0], strict=True)), measured_falls=falls)
    assert model.verify_cost(4) < model.verify_cost(3)
    assert CostModel.from_dict(model.to_dict()) == model and model.to_dict()["measured_falls"] == [4]
    # Only one of the two contexts saw the fall: noise, pooled into a monotone curve.
    curves[1] = {**odd_dear, 4: 0.094}
    rows, *_, falls = calibration._monotone_curves(decoders, [("a", 64), ("b", 64)], fed_points, 3, "p", 0.2, 1)
    assert falls == () and all(list(row) == sorted(row) for row in rows)
    # One group alone cannot tell the machine from noise.
    assert calibration.measured_falls(fed_points, [list(odd_dear.values())], [list(odd_dear.values())]) == ()
    with pytest.raises(ValueError, match="non-monotone cost curve"):
        CostModel(draft_s=0.004, verify_points=tuple(odd_dear.items()), measured_falls=(5,))
    assert "measured_falls" not in CostModel(draft_s=0.004, verify_points=((1, 0.04), (2, 0.05))).to_dict()


def test_a_drafter_that_drafts_eos_often_is_calibrated_and_one_that_always_does_is_refused(random_pair, copy_pair,
                                                                                             eos_every_third):
    # The random drafter drafts EOS every few tokens (a draft of 16 in ~1 block of 7): the retries find its long
    # drafts. A drafter that drafts EOS every third position never drafts 4 in a row: refused, naming the fix.
    model = calibration.calibrate(random_pair, repeats=1, validate=False)
    assert [fed for fed, _ in model.verify_points] == list(calibration.DEFAULT_FED_POINTS)
    with pytest.raises(RuntimeError, match=r"could not draft 4 tokens in a row .* in 100 tries.*another calibration"):
        calibration.calibrate(eos_every_third(copy_pair), fed_points=(1, 5), repeats=1, validate=False)


def test_the_catch_up_is_charged_once_per_drafting_block_and_kept_out_of_old_files():
    """`CostModel.catch_up_s`: a block that drafts pays it once, a verifier-alone block not; `price` charges every
    drafting block; files and fingerprint hashes of models without it are unchanged; a negative one is refused."""
    from ebsd_env.fingerprint import cost_model_hash

    plain = CostModel(draft_s=0.004, verify_points=((1, 0.04), (2, 0.05)))
    model = dataclasses.replace(plain, catch_up_s=0.002)
    assert model.block_draft_cost(0) == 0.0 and model.block_draft_cost(1) == pytest.approx(0.006)
    assert model.block_draft_cost(3) == pytest.approx(0.014)
    assert price(model, [0, 2, 1]) == pytest.approx((0.004 * 3 + 0.002 * 2, 0.04 + 0.06 + 0.05))
    assert "catch_up_s" not in plain.to_dict() and CostModel.from_dict(model.to_dict()) == model
    assert cost_model_hash(plain) == cost_model_hash(CostModel.from_dict(plain.to_dict()))
    assert cost_model_hash(model) != cost_model_hash(plain)
    with pytest.raises(ValueError, match="catch_up_s must be >= 0"):
        dataclasses.replace(plain, catch_up_s=-0.001)
