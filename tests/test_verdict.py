"""`eval.verdict` end to end on a tiny pair: tuned rules and PPO runs found in an experiment folder, replayed on
the verdict traces with oracle-dp, run live, and reported with rliable's aggregates and the goals."""

from __future__ import annotations

import json
import re

import pytest

from ebsd_env.decoding.tiny import tiny_pair
from ebsd_env.prompts import normalise_prompts
from ebsd_env.replay.record import record
from ebsd_env.timing.cost_model import CostModel

PROMPTS = normalise_prompts([{"id": "a1", "category": "alpha", "prompt": "the cat sat on"},
                             {"id": "a2", "category": "alpha", "prompt": "hello world, how are"},
                             {"id": "b1", "category": "beta", "prompt": "write a poem about"},
                             {"id": "b2", "category": "beta", "prompt": "1 2 3 4 5"}])
COSTS = CostModel(draft_s=0.002, verify_points=((1, 0.02), (2, 0.021), (17, 0.03)))


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    from train import ppo, tune

    out = tmp_path_factory.mktemp("verdict")
    (out / "split").mkdir()
    for name in ("validation", "test"):
        (out / "split" / f"{name}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in PROMPTS))
    pair = tiny_pair("noisy")  # what --tiny noisy loads
    for name in ("train", "validation", "test"):
        record(pair, PROMPTS, out / f"traces-{name}", max_draft_len=16, max_new_tokens=24, progress=False,
               calibrate_clock=False)
    COSTS.save(out / "cost_model.json")
    assert tune.main(["bayes", "--rule", "entropy-abs", "--traces", str(out / "traces-train"), "--budget", "3",
                      "--storage", str(out / "tune" / "tune.db"), "--out", str(out / "tune" / "entropy-abs.json"),
                      "--max-new-tokens", "24", "--env-max-draft-len", "16", "--cost-model",
                      str(out / "cost_model.json")]) == 0
    for variant, options in (("mlp", []), ("ltd", ["--observation", "ltd"])):
        for seed in (1, 2):
            ppo.main(["--traces", str(out / "traces-train"), "--clock", "model", "--num-envs", "4",
                      "--total-timesteps", "128", "--n-steps", "32", "--batch-size", "64", "--n-epochs", "1",
                      "--max-new-tokens", "24", "--runs-dir", str(out / "ppo"), "--no-progress-bar", "--eval-freq",
                      "64", "--fixed-ks", "1", "2", "--seed", str(seed), "--exp-name", variant, "--live-eval-freq",
                      "0", "--cost-model", str(out / "cost_model.json"), *options])
    return out


def test_the_verdicts_replay_charges_each_policys_decisions(experiment):
    """A replayed episode's seconds are its drafting and verification plus decisions x the seconds one decision of
    that policy took here: the same episodes with `decide_s` 0 plus exactly that."""
    from ebsd_env.replay import ReplayEnv, TraceSet
    from eval.verdict.config import VerdictConfig
    from eval.verdict.replay import replay_traces
    from policies.registry import make_policy
    from policies.rollout import run_episode

    traces = TraceSet.load(experiment / "traces-validation")
    config = VerdictConfig("replay", out=experiment, max_new_tokens=24)
    entry = {"spec": "entropy-abs:theta=1.0", "kind": "static"}
    replayed = replay_traces(config, traces, COSTS, {"rule": entry}, "validation")["policies"]["rule"]
    assert replayed["decide_s"] > 0
    env = ReplayEnv(traces, max_new_tokens=24, cost_model=COSTS, max_draft_len=16)
    policy = make_policy(entry["spec"], env=env)
    for index, trace in enumerate(traces.traces):
        free = run_episode(env, policy, seed=0, options={"prompt_index": index})
        tokens, seconds = replayed["per_prompt"][trace.id]
        assert tokens == free["new_tokens"] and free["decide_s"] == 0.0
        assert seconds == pytest.approx(free["decode_s"] + free["decisions"] * replayed["decide_s"], rel=1e-12)


def test_verdict_replays_runs_live_and_reports(experiment, tmp_path):
    from eval import verdict

    verdict.main(["replay", "--out", str(experiment), "--max-new-tokens", "24"])
    for name in ("replay.json", "replay-validation.json"):
        replayed = json.loads((experiment / name).read_text())["policies"]
        assert {"ppo mlp seed 1", "ppo ltd seed 2", "tuned entropy-abs (category)", "oracle-dp"} <= set(replayed)
        assert set(replayed["oracle-dp"]["per_prompt"]) == {"a1", "a2", "b1", "b2"}
        # Every policy's decisions are charged at their measured cost; the oracle's peek is not a decision cost.
        assert replayed["oracle-first-reject"]["decide_s"] == 0.0
        assert all(replayed[label]["decide_s"] > 0 for label in ("ppo mlp seed 1", "tuned entropy-abs (category)",
                                                                "fixed-k:k=8"))
    validation, test = (json.loads((experiment / name).read_text())["policies"]
                        for name in ("replay-validation.json", "replay.json"))
    assert all(validation[label].get("decide_s") == test[label].get("decide_s") for label in test)  # measured once
    chosen = verdict.choose_live(experiment)
    selection = verdict.select(experiment)
    statics = set(selection["best_static"].values())
    assert set(chosen) == {*verdict.STATIC, *statics, "tuned entropy-abs", "ppo mlp", "ppo ltd"}
    verdict.main(["live", "--out", str(experiment), "--tiny", "noisy", "--max-new-tokens", "24", "--threads", "1"])
    result = verdict.report(verdict.VerdictConfig("report", out=experiment, results=tmp_path / "results",
                                                  max_new_tokens=24, threads=1))
    assert result["prompts"] == 4 and set(result["per_category"]) == {"alpha", "beta"}
    assert result["best_learned"] == selection["best_learned"] and result["best_tuned"] == "tuned entropy-abs"
    assert result["selection"]["choices"]["ppo_seeds"] == selection["ppo_seeds"]
    shares = result["replay"]["shares"]
    assert shares["oracle-dp"] == pytest.approx(1.0)
    assert all(share <= 1.0 + 1e-9 for share in shares.values())  # nothing beats the optimum on its own clock
    assert set(result["replay"]["variants"]["mlp"]["seeds"]) == {"1", "2"}
    assert all(v["oracle_vs_best_static"] >= 1.0 - 1e-9 for v in result["replay"]["headroom"].values())
    assert 0.0 <= result["probability_of_improvement"]["no-spec"]["p"] <= 1.0
    assert result["rows"]["no-spec"]["vs_verifier"]["mean"] == pytest.approx(1.0)
    released = verdict.release(verdict.VerdictConfig("release", out=experiment, results=tmp_path / "results"),
                               target=tmp_path / "trained" / "ppo")
    from ebsd_env.fingerprint import read_zip

    shipped = json.loads(released.with_suffix(".json").read_text())
    assert read_zip(released) == shipped["fingerprint"] and shipped["policy"] == result["best_learned"]
    report = (tmp_path / "results" / "report.md").read_text()
    assert "Goals:" in report and (tmp_path / "results" / "profile.png").stat().st_size > 0


# ------------------------------------------------------------------ choices on validation, judged on test
# A hand-made experiment (no model): per policy, the seconds each prompt took for 10 tokens, on the validation
# prompts and on the test prompts. Everything that is best on validation is second best on test.
VALIDATION = {"no-spec": 1.0, "fixed-k:k=1": 0.6, "fixed-k:k=2": 0.7, "fixed-k:k=3": 0.9, "fixed-k:k=4": 0.95,
              "fixed-k:k=6": 0.97, "ppo a seed 1": 0.40, "ppo a seed 2": 0.50, "ppo b seed 1": 0.45,
              "tuned entropy-abs (category)": 0.55, "tuned entropy-abs (overall)": 0.56,
              "tuned entropy-rel (category)": 0.58, "tuned entropy-rel (overall)": 0.59,
              "oracle-first-reject": 0.3, "oracle-dp": 0.2}
TEST = {**VALIDATION, "fixed-k:k=1": 0.7, "fixed-k:k=2": 0.6, "ppo a seed 1": 0.45, "ppo b seed 1": 0.40,
        "tuned entropy-abs (category)": 0.58, "tuned entropy-rel (category)": 0.55}
LIVE = {"no-spec": "no-spec", **{f"fixed-k:k={k}": f"fixed-k:k={k}" for k in (1, 2, 3, 4, 6)},
        "ppo a": "entropy-abs:theta=0.5", "ppo b": "entropy-abs:theta=2.0",  # stand-ins: specs without a file
        "tuned entropy-abs": "entropy-window:theta=1.0", "tuned entropy-rel": "entropy-pos:theta=1.0"}
LIVE_SOURCE = {"ppo a": "ppo a seed 1", "ppo b": "ppo b seed 1", "tuned entropy-abs": "tuned entropy-abs (category)",
               "tuned entropy-rel": "tuned entropy-rel (category)"}


def _replay(seconds: dict, ids: dict) -> dict:
    policies = {}
    for label, s in seconds.items():
        variant = re.match(r"ppo (\w+) seed (\d+)", label)
        entry = ({"kind": "ppo", "variant": variant[1], "seed": int(variant[2])} if variant else
                 {"kind": "tuned"} if label.startswith("tuned") else {"kind": "oracle", "stop_mode": "include"}
                 if label.startswith("oracle") else {"kind": "static"})
        policies[label] = {**entry, "spec": label, "per_prompt": {i: [10, s] for i in ids}}
    return {"categories": ids, "policies": policies}


def test_every_choice_is_made_on_validation_even_where_test_would_choose_otherwise(tmp_path):
    from eval import verdict
    from policies.registry import make_policy

    out = tmp_path / "experiment"
    (out / "split").mkdir(parents=True)
    validation_ids, test_ids = {"v1": "alpha", "v2": "alpha"}, {"t1": "alpha", "t2": "alpha", "t3": "alpha"}
    (out / "split" / "test.jsonl").write_text("".join(json.dumps({"id": i, "category": c, "prompt": "x"}) + "\n"
                                                      for i, c in test_ids.items()))
    write = lambda name, data: (out / name).write_text(json.dumps(data))  # noqa: E731
    write("replay-validation.json", _replay(VALIDATION, validation_ids))
    write("replay.json", _replay(TEST, test_ids))
    for rule in ("entropy-abs", "entropy-rel"):
        (out / "tune").mkdir(exist_ok=True)
        write(f"tune/{rule}.json", {"best": {}})
    runs = [{"variant": "a", "seed": 1, "model": "a1.zip"}, {"variant": "a", "seed": 2, "model": "a2.zip"},
            {"variant": "b", "seed": 1, "model": "b1.zip"}]
    from eval.selection import choose

    selection = choose(json.loads((out / "replay-validation.json").read_text()), ["entropy-abs", "entropy-rel"],
                       runs, ["alpha"])
    assert selection["ppo_seeds"] == {"a": 1, "b": 1} and selection["best_learned"] == "ppo a"
    assert selection["best_tuned"] == "tuned entropy-abs" and selection["best_static"] == {"alpha": "fixed-k:k=1"}
    assert selection["tuned_rules"] == {"entropy rule": "entropy-abs"}
    write("selection.json", selection)
    write("live_policies.json", LIVE)
    (out / "eval-live").mkdir()
    rows = [{"policy": make_policy(spec).spec, "prompt_id": i, "category": c,
             "stats": {"new_tokens": 10, "decode_s": TEST[LIVE_SOURCE.get(label, label)]}}
            for label, spec in LIVE.items() for i, c in test_ids.items()]
    (out / "eval-live" / "episodes.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))

    result = verdict.report(verdict.VerdictConfig("report", out=out, results=tmp_path / "results"))
    # On test, ppo b (0.40 s) beats ppo a (0.45 s), entropy-rel beats entropy-abs and k = 2 beats k = 1: the
    # verdict still reports the choices made on validation, and the hindsight static beside, labelled.
    assert result["best_learned"] == "ppo a" and result["best_tuned"] == "tuned entropy-abs"
    alpha = result["per_category"]["alpha"]
    assert alpha["best_static"] == "fixed-k:k=1" and alpha["best_static_hindsight"] == "fixed-k:k=2"
    assert alpha["learned_vs_best_static"] == pytest.approx(0.7 / 0.45)
    assert alpha["learned_vs_best_static_hindsight"] == pytest.approx(0.6 / 0.45)
    assert alpha["best_tuned"] == "tuned entropy-abs" and alpha["learned_vs_best_tuned"] == pytest.approx(0.58 / 0.45)
    assert result["goals"]["learned_vs_best_tuned_overall"] == pytest.approx(0.58 / 0.45)
    assert result["replay"]["variants"]["a"]["chosen_seed"] == 1
    assert result["selection"]["validation"]["prompts"] == 2 and result["selection"]["test"]["prompts"] == 3
    report = (tmp_path / "results" / "report.md").read_text()
    assert "best static in hindsight (test)" in report and "chosen on validation" in report


def test_an_experiment_split_before_validation_is_refused_in_one_line(tmp_path, capsys):
    from eval import verdict

    (tmp_path / "split").mkdir()
    (tmp_path / "split" / "verdict.jsonl").write_text("")
    (tmp_path / "replay-validation.json").write_text(json.dumps({"categories": {}, "policies": {}}))
    assert verdict.main(["live", "--out", str(tmp_path), "--tiny", "noisy"]) == 2
    error = capsys.readouterr().err.strip()
    assert "test.jsonl is missing (this experiment was split before validation prompts existed" in error
    assert "\n" not in error


def test_static_ks_choose_the_static_policies_replayed_and_run_live(experiment):
    from eval import verdict

    static = verdict.static_specs((2, 12, 16))
    assert static == ("no-spec", "fixed-k:k=2", "fixed-k:k=12", "fixed-k:k=16")
    replayed = verdict.replay_policies(experiment, static)
    assert [label for label, entry in replayed.items() if entry["kind"] == "static"] == [*static, "fixed-k:k=8"]
    config = verdict.VerdictConfig("replay", out=experiment, static_ks=(2, 12, 16))
    assert verdict.static_specs(config.static_ks) == static


def test_calibrate_checks_the_clock_at_every_k_on_validation_prompts_and_prints_the_table(tmp_path, capsys):
    from ebsd_env.timing.validation import VALIDATION_KS
    from eval import verdict

    out = tmp_path / "exp"
    (out / "split").mkdir(parents=True)
    (out / "split" / "validation.jsonl").write_text("".join(json.dumps(row) + "\n" for row in PROMPTS))
    assert verdict.main(["calibrate", "--out", str(out), "--tiny", "noisy", "--threads", "1", "--max-new-tokens",
                         "8", "--clock-tolerance", "10"]) == 0
    costs = CostModel.load(out / "cost_model.json")
    points = costs.validation["points"]
    assert [p["k"] for p in points] == list(VALIDATION_KS)
    assert all(p["runs"] == 2 for p in points)  # the first prompt of each of the two categories, one round
    assert costs.fingerprint["clock_tolerance"] == 10.0 and costs.context_aware
    assert "| k | measured s | predicted s | error |" in capsys.readouterr().out
    # Two interleaved rounds of the validation: every checked prompt decoded twice at every k.
    (out / "cost_model.json").unlink()
    assert verdict.main(["calibrate", "--out", str(out), "--tiny", "noisy", "--threads", "1", "--max-new-tokens",
                         "8", "--clock-tolerance", "10", "--validation-rounds", "2"]) == 0
    assert all(p["runs"] == 4 for p in CostModel.load(out / "cost_model.json").validation["points"])
    # No validation prompts: one line naming the file, before any timing.
    (out / "split" / "validation.jsonl").write_text("")
    (out / "cost_model.json").unlink()
    assert verdict.main(["calibrate", "--out", str(out), "--tiny", "noisy", "--threads", "1"]) == 2
    assert "validation.jsonl holds no prompts" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--static-ks", "0", "4"], r"--static-ks: \[0\] outside 1..16"),
    (["--static-ks", "17"], r"--static-ks: \[17\] outside 1..16"),
    (["--clock-tolerance", "0"], "--clock-tolerance must be > 0"),
    (["--threads", "0"], "--threads, --max-new-tokens and --validation-rounds must be >= 1"),
    (["--validation-rounds", "0"], "--threads, --max-new-tokens and --validation-rounds must be >= 1"),
])
def test_bad_flags_fail_in_one_line_before_any_step_runs(tmp_path, capsys, flags, message):
    from eval import verdict

    # An empty folder: a step that ran would fail on its missing files instead of on the flag.
    assert verdict.main(["calibrate", "--out", str(tmp_path / "none"), *flags]) == 2
    error = capsys.readouterr().err
    assert re.search(message, error) and error.count("\n") == 1
