"""`eval.live_choice`: a policy chosen by live runs on validation prompts, maximin over settings."""

import json
import math

import pytest

from eval.live_choice import choose_live, main, run_units

BASE = "multi-static:drafter=int4,k=16"
FRAGILE, STEADY, SLOW = "ppo:fragile.zip", "ppo:steady.zip", "ppo:slow.zip"
PROMPTS = ["qa/1", "qa/2", "code/1"]


def write_run(folder, seconds: dict[str, float], prompts=PROMPTS, source="split/validation.jsonl", tokens=64):
    """An `ebsd eval` folder where each policy decodes every prompt's `tokens` in seconds[policy] (decode_s)."""
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"prompts": source, "clock": "wall"}))
    with open(folder / "episodes.jsonl", "w") as handle:
        for prompt in prompts:
            for policy, secs in seconds.items():
                row = {"variant": policy, "prompt_id": prompt, "seed": 0, "temperature": 0.0, "max_new_tokens": 64,
                       "stats": {"new_tokens": tokens, "decode_s": secs}}
                handle.write(json.dumps(row) + "\n")
    return folder


def write_lucky_run(folder):
    """Prompts of very different lengths in time; STEADY is exactly 5 % faster than the baseline on each (so its
    paired ratio does not move under resampling), FRAGILE wins big on the longest prompt and loses on the others."""
    base = {"p1": 1.0, "p2": 4.0, "p3": 9.0, "p4": 2.0}
    folder.mkdir()
    with open(folder / "episodes.jsonl", "w") as handle:
        for prompt, secs in base.items():
            times = {BASE: secs, STEADY: secs / 1.05, FRAGILE: secs / (3.0 if prompt == "p3" else 0.9)}
            for policy, t in times.items():
                handle.write(json.dumps({"variant": policy, "prompt_id": prompt, "seed": 0, "temperature": 0.0,
                                         "max_new_tokens": 64, "stats": {"new_tokens": 64, "decode_s": t}}) + "\n")
    return folder


def two_settings(tmp_path):
    # Setting a: fragile 30 % faster than the baseline, steady 2 % faster. Setting b: fragile 12 % slower, steady
    # 1 % faster. The slow one is 5 % slower in both. The fragile one has the higher geometric mean (1.07).
    a = write_run(tmp_path / "a", {BASE: 1.0, FRAGILE: 1 / 1.30, STEADY: 1 / 1.02, SLOW: 1 / 0.95, "no-spec": 2.0})
    b = write_run(tmp_path / "b", {BASE: 1.0, FRAGILE: 1 / 0.88, STEADY: 1 / 1.01, SLOW: 1 / 0.95, "no-spec": 2.0})
    return {"a": run_units(a)[0], "b": run_units(b)[0]}


def test_maximin_picks_the_policy_that_never_loses(tmp_path):
    result = choose_live(two_settings(tmp_path), BASE)
    assert result["candidates"] == [FRAGILE, STEADY, SLOW]  # every ppo: policy by default
    assert result["chosen"] == STEADY
    assert result["ratios"]["a"][FRAGILE] == pytest.approx(1.30)
    assert result["scores"][FRAGILE]["geomean"] > result["scores"][STEADY]["geomean"]
    assert result["ratios"]["b"][FRAGILE] == pytest.approx(0.88)
    assert result["scores"][FRAGILE]["worst"] == pytest.approx(0.88)
    assert result["scores"][STEADY]["geomean"] == pytest.approx(math.sqrt(1.02 * 1.01))
    assert result["ratios"]["a"]["no-spec"] == pytest.approx(0.5)
    assert result["prompts"] == 3
    # The best single setting would have picked the fragile one.
    assert max(result["candidates"], key=lambda p: result["ratios"]["a"][p]) == FRAGILE


def test_ties_within_the_tolerance_go_to_the_higher_geometric_mean(tmp_path):
    a = write_run(tmp_path / "a", {BASE: 1.0, FRAGILE: 1 / 1.30, STEADY: 1 / 1.002})
    b = write_run(tmp_path / "b", {BASE: 1.0, FRAGILE: 1 / 0.995, STEADY: 1 / 1.0})
    runs = {"a": run_units(a)[0], "b": run_units(b)[0]}
    assert choose_live(runs, BASE, tie=0.01)["chosen"] == FRAGILE  # worst 0.995 vs 1.000: a tie; geomean decides
    assert choose_live(runs, BASE, tie=0.0)["chosen"] == STEADY
    assert choose_live(runs, BASE, tie=0.01)["tied"] == [FRAGILE, STEADY]


def test_rates_pool_tokens_over_seconds(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"prompts": "val.jsonl"}))
    rows = [(BASE, "p1", 10, 1.0), (BASE, "p2", 30, 1.0), (STEADY, "p1", 10, 0.5), (STEADY, "p2", 30, 3.5)]
    with open(folder / "episodes.jsonl", "w") as handle:
        for policy, prompt, tokens, secs in rows:
            handle.write(json.dumps({"variant": policy, "prompt_id": prompt, "seed": 0, "temperature": 0.0,
                                     "max_new_tokens": 64, "stats": {"new_tokens": tokens, "decode_s": secs}}) + "\n")
    result = choose_live({"x": run_units(folder)[0]}, BASE)
    assert result["rates"]["x"][BASE] == pytest.approx(20.0)  # 40 tokens / 2 s, not a mean of per-prompt rates
    assert result["rates"]["x"][STEADY] == pytest.approx(10.0)


def test_main_writes_the_choice_and_refuses_bad_input(tmp_path, capsys):
    write_run(tmp_path / "a", {BASE: 1.0, FRAGILE: 1 / 1.10, STEADY: 1 / 1.02})
    write_run(tmp_path / "b", {BASE: 1.0, FRAGILE: 1 / 0.88, STEADY: 1 / 1.01})
    out = tmp_path / "out"
    assert main(["--runs", f"1t={tmp_path / 'a'}", f"2t={tmp_path / 'b'}", "--baseline", BASE, "--out", str(out)]) == 0
    saved = json.loads((out / "live_choice.json").read_text())
    assert saved["chosen"] == STEADY and saved["runs"] == ["1t", "2t"]
    assert "**chosen**" in capsys.readouterr().out

    def refused(args, words):
        assert main(args) == 2
        message = capsys.readouterr().err.strip()
        assert message.count("\n") == 0 and all(word in message for word in words), message

    runs = ["--runs", f"1t={tmp_path / 'a'}", f"2t={tmp_path / 'b'}"]
    write_run(tmp_path / "test-run", {BASE: 1.0, STEADY: 1.0}, source="split/test.jsonl")
    refused(["--runs", f"1t={tmp_path / 'test-run'}", "--baseline", BASE], ["test split", "validation"])
    write_run(tmp_path / "other", {BASE: 1.0, STEADY: 1.0, FRAGILE: 1.0}, prompts=["qa/9"])
    refused(["--runs", f"1t={tmp_path / 'a'}", f"2t={tmp_path / 'other'}", "--baseline", BASE],
            ["other prompts", "2t"])
    refused([*runs, "--baseline", BASE, "--candidates", "ppo:absent.zip"], ["lacks", "ppo:absent.zip"])
    refused([*runs, "--baseline", "fixed-k:k=3"], ["lacks", "fixed-k:k=3"])
    refused(["--runs", str(tmp_path / "a"), "--baseline", BASE], ["LABEL=FOLDER"])
    refused(["--runs", f"1t={tmp_path / 'nothing'}", "--baseline", BASE], ["no episodes"])
    refused([*runs, "--baseline", BASE, "--tie", "1.5"], ["--tie"])
    write_run(tmp_path / "static-only", {BASE: 1.0, "no-spec": 2.0})
    refused(["--runs", f"1t={tmp_path / 'static-only'}", "--baseline", BASE], ["no ppo: policy", "--candidates"])
    assert not (tmp_path / "nothing").exists()


def test_a_candidate_missing_prompts_is_refused(tmp_path):
    a = write_run(tmp_path / "a", {BASE: 1.0, STEADY: 1.0})
    with open(a / "episodes.jsonl") as handle:
        rows = [json.loads(line) for line in handle]
    rows = [r for r in rows if not (r["variant"] == STEADY and r["prompt_id"] == "qa/2")]
    (a / "episodes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ValueError, match="other prompts than the baseline"):
        choose_live({"a": run_units(a)[0]}, BASE)


def test_the_bootstrap_pairs_policies_by_prompt_and_shows_how_stable_the_choice_is(tmp_path):
    runs = {"x": run_units(write_lucky_run(tmp_path / "run"))[0]}
    result = choose_live(runs, BASE, resamples=500, seed=3)
    boot = result["bootstrap"]
    assert boot["ratio_ci90"]["x"][STEADY] == pytest.approx([1.05, 1.05])
    low, high = boot["ratio_ci90"]["x"][FRAGILE]
    assert low < 1.0 < high
    assert result["chosen"] == FRAGILE  # 1.78x pooled: p3 is most of the time
    assert 0.0 < boot["chosen_share"][FRAGILE] < 1.0 and 0.0 < boot["chosen_share"][STEADY] < 1.0
    assert sum(boot["chosen_share"].values()) == pytest.approx(1.0)
    assert choose_live(runs, BASE, resamples=500, seed=3)["bootstrap"] == boot  # seeded
    assert "bootstrap" not in choose_live(runs, BASE, resamples=0)


def test_a_choice_without_noise_is_chosen_in_every_resample(tmp_path):
    result = choose_live(two_settings(tmp_path), BASE, resamples=200)
    assert result["bootstrap"]["chosen_share"][STEADY] == 1.0
    assert result["bootstrap"]["ratio_ci90"]["b"][FRAGILE] == pytest.approx([0.88, 0.88])


def test_an_incumbent_stays_unless_the_challenger_wins_in_enough_resamples(tmp_path):
    runs = two_settings(tmp_path)  # steady chosen in every resample (no noise)
    sure = choose_live(runs, BASE, resamples=100, incumbent=FRAGILE)
    assert sure["decision"] == STEADY and "replaces" in sure["decision_reason"]
    kept = choose_live(runs, BASE, resamples=100, incumbent=STEADY)
    assert kept["decision"] == STEADY and "is the incumbent" in kept["decision_reason"]

    noisy = {"x": run_units(write_lucky_run(tmp_path / "noisy"))[0]}  # the lucky one is chosen, unsurely
    unsure = choose_live(noisy, BASE, resamples=500, seed=3, incumbent=STEADY)
    share = unsure["bootstrap"]["chosen_share"][FRAGILE]
    assert unsure["chosen"] == FRAGILE and share < 0.9
    assert unsure["decision"] == STEADY and "stays" in unsure["decision_reason"]
    assert choose_live(noisy, BASE, resamples=500, seed=3, incumbent=STEADY,
                       confidence=share)["decision"] == FRAGILE
    with pytest.raises(ValueError, match="must be one of the candidates"):
        choose_live(runs, BASE, incumbent="ppo:other.zip")
    with pytest.raises(ValueError, match="--resamples > 0"):
        choose_live(runs, BASE, resamples=0, incumbent=STEADY)


def test_repeats_of_a_setting_are_pooled(tmp_path, capsys):
    # 1t twice: steady 2 % faster in the first repeat, 10 % slower in the second; pooled (equal tokens) the
    # rates are 2 tokens / (1/1.02 + 1/0.90) seconds per prompt pair.
    write_run(tmp_path / "a1", {BASE: 1.0, STEADY: 1 / 1.02, FRAGILE: 1.0})
    write_run(tmp_path / "a2", {BASE: 1.0, STEADY: 1 / 0.90, FRAGILE: 1.0})
    write_run(tmp_path / "b", {BASE: 1.0, STEADY: 1.0, FRAGILE: 1.0})
    out = tmp_path / "out"
    args = ["--runs", f"1t={tmp_path / 'a1'},{tmp_path / 'a2'}", f"2t={tmp_path / 'b'}", "--baseline", BASE,
            "--out", str(out), "--resamples", "50"]
    assert main(args) == 0
    saved = json.loads((out / "live_choice.json").read_text())
    assert saved["ratios"]["1t"][STEADY] == pytest.approx(2 / (1 / 1.02 + 1 / 0.90))
    assert saved["folders"]["1t"] == [str(tmp_path / "a1"), str(tmp_path / "a2")]
    assert saved["chosen"] == FRAGILE  # 1.0 everywhere beats steady's pooled 0.956
    capsys.readouterr()
    assert main(["--runs", f"1t={tmp_path / 'a1'},,{tmp_path / 'a2'}", "--baseline", BASE]) == 2
    assert "LABEL=FOLDER[,FOLDER...]" in capsys.readouterr().err


def test_a_prompt_and_its_repeats_are_resampled_together(tmp_path):
    from eval.live_choice import setting_units

    folder = write_lucky_run(tmp_path / "run")
    once = choose_live({"x": setting_units("x", [folder])}, BASE, resamples=300, seed=5)["bootstrap"]
    twice = choose_live({"x": setting_units("x", [folder, folder])}, BASE, resamples=300, seed=5)["bootstrap"]
    # The same run given twice is no new evidence: the intervals and shares stay as they were.
    for policy, interval in once["ratio_ci90"]["x"].items():
        assert twice["ratio_ci90"]["x"][policy] == pytest.approx(interval)
    assert twice["chosen_share"] == once["chosen_share"]
