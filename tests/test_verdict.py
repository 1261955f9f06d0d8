"""`eval.verdict` end to end on a tiny pair: tuned rules and PPO runs found in an experiment folder, replayed on
the verdict traces with oracle-dp, run live, and reported with rliable's aggregates and the goals."""

from __future__ import annotations

import json

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
    (out / "split" / "verdict.jsonl").write_text("".join(json.dumps(row) + "\n" for row in PROMPTS))
    pair = tiny_pair("noisy")  # what --tiny noisy loads
    for name in ("train", "verdict"):
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


def test_verdict_replays_runs_live_and_reports(experiment, tmp_path):
    from eval import verdict

    verdict.main(["replay", "--out", str(experiment), "--max-new-tokens", "24"])
    replayed = json.loads((experiment / "replay.json").read_text())["policies"]
    assert {"ppo mlp seed 1", "ppo ltd seed 2", "tuned entropy-abs (category)", "oracle-dp"} <= set(replayed)
    assert set(replayed["oracle-dp"]["per_prompt"]) == {"a1", "a2", "b1", "b2"}
    chosen = verdict.choose_live(experiment)
    assert set(chosen) == {*verdict.STATIC, "tuned entropy-abs", "ppo mlp", "ppo ltd"}
    verdict.main(["live", "--out", str(experiment), "--tiny", "noisy", "--max-new-tokens", "24", "--threads", "1"])
    result = verdict.report(verdict.VerdictConfig("report", out=experiment, results=tmp_path / "results",
                                                  max_new_tokens=24, threads=1))
    assert result["prompts"] == 4 and set(result["per_category"]) == {"alpha", "beta"}
    assert result["best_learned"] in ("ppo mlp", "ppo ltd") and result["best_tuned"] == "tuned entropy-abs"
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
