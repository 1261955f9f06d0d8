"""`ebsd eval`: a small run on a tiny pair (model clock) writes episodes, summary and a full report; resume;
clear errors on bad input; the statistics on hand-made data."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from eval.metrics import auroc, bootstrap_ci, calibration, family, ratio_summary, token_marks
from eval.report import SECTIONS
from eval.run import ABLATIONS, EvalConfig, build_plan, check_policies, evaluate, main, read_rows

PROMPTS = [
    {"id": "a1", "category": "alpha", "prompt": "the quick brown fox jumps"},
    {"id": "a2", "category": "alpha", "prompt": "hello world. how are you?"},
    {"id": "b1", "category": "beta", "turns": ["count 1 2 3 4 5", "and now backwards"]},
    {"id": "b2", "category": "beta", "prompt": "abc abc abc abc abc"},
]
POLICIES = ("fixed-k:k=3", "entropy-abs:theta=1.5")


@pytest.fixture(scope="module")
def prompt_file(tmp_path_factory, make_prompt_file):
    return make_prompt_file(tmp_path_factory.mktemp("prompts"), PROMPTS)


def small_config(prompt_file, out, **overrides) -> EvalConfig:
    values = dict(prompts=str(prompt_file), policies=POLICIES, max_new_tokens=16, clock="model", out=str(out),
                  limit_per_category=None, tensorboard=True)
    values.update(overrides)
    return EvalConfig(**values)


@pytest.fixture(scope="module")
def small_run(prompt_file, noisy_pair, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "run"
    evaluate(small_config(prompt_file, out), pair=noisy_pair)
    return out


def test_small_run_writes_episodes_summary_and_full_report(small_run):
    rows = read_rows(small_run / "episodes.jsonl")
    # no-spec (the verifier-alone reference) is added to the two policies: 3 variants x 4 prompts x 1 seed.
    assert len(rows) == 12 and len({row["key"] for row in rows}) == 12
    assert {row["variant"] for row in rows} == {"no-spec", *POLICIES}
    for row in rows:
        assert row["stats"]["new_tokens"] > 0 and row["stats"]["tokens_per_s"] > 0
        assert row["category"] in ("alpha", "beta") and row["clock"] == "model"
        if row["family"] != "verifier":
            assert row["blocks"] and sum(b["drafted"] for b in row["blocks"]) == row["stats"]["drafted"]
    summary = json.loads((small_run / "summary.json").read_text())
    cond = summary["conditions"]["T=0,new=16"]
    # The best static policy per category: the faster of fixed-k k=3 and k = 0 (no-spec) there.
    static = {c: max(("no-spec", "fixed-k:k=3"), key=lambda v, c=c: cond["results"][v][c]["tokens_per_s"]["mean"])
              for c in ("alpha", "beta")}
    assert cond["reference"] == "no-spec" and cond["best_fixed_k"] == static
    overall = cond["results"]["entropy-abs:theta=1.5"]["all"]
    assert overall["speedup_vs_best_fixed_k"]["n"] == 4 and overall["speedup_vs_verifier"]["mean"] > 0
    # Greedy speculative decoding is exact: every output equals the verifier's own.
    assert all(cond["results"][v]["all"]["identical_to_verifier"] == 1.0 for v in cond["variants"])
    assert set(cond["hypotheses"]) == {"H1", "H2", "H3", "H4"}
    assert all(h["verdict"] in ("supported", "not supported", "inconclusive", "not testable")
               for h in cond["hypotheses"].values())
    # The machine the episodes ran on: CPU, cores and load average before and after, in the summary and report.
    machine = summary["meta"]["machine"]
    assert machine["cores"] >= 1 and machine["load_1min"] >= 0 and "load_1min" in summary["meta"]["machine_after"]
    report = (small_run / "report.md").read_text()
    assert f"1-minute load {machine['load_1min']:.2f} before the episodes" in report
    for section in SECTIONS:
        assert f"## {section}" in report, section
    for png in ("tokens_per_s", "draft_lengths", "calibration", "entropy_trajectories"):
        path = small_run / "plots" / f"T_0_new_16_{png}.png"
        assert path.stat().st_size > 1000 and f"plots/{path.name}" in report
    assert any((small_run / "tb").glob("events.out.tfevents.*"))


def test_resume_skips_finished_rows_and_drops_a_torn_line(small_run, prompt_file, noisy_pair):
    path = small_run / "episodes.jsonl"
    before = read_rows(path)
    evaluate(small_config(prompt_file, small_run), pair=noisy_pair)
    assert read_rows(path) == before  # nothing recomputed
    # Interrupt: drop the last row and leave half a line, as a kill during a write would.
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    evaluate(small_config(prompt_file, small_run), pair=noisy_pair)
    after = read_rows(path)
    assert len(after) == 12 and [r["key"] for r in after[:-1]] == [r["key"] for r in before[:-1]]
    assert after[:-1] == before[:-1] and after[-1]["key"] == before[-1]["key"]


def test_resume_refuses_a_different_pair(small_run, prompt_file, copy_pair):
    with pytest.raises(ValueError, match="different settings"):
        evaluate(small_config(prompt_file, small_run), pair=copy_pair)


def test_bad_input_gives_clear_errors(tmp_path, prompt_file, noisy_pair):
    with pytest.raises(ValueError, match="unknown policy 'warp-drive'"):
        evaluate(small_config(prompt_file, tmp_path / "a", policies=("warp-drive:k=2",)), pair=noisy_pair)
    with pytest.raises(ValueError, match="not found"):
        evaluate(small_config(tmp_path / "missing.jsonl", tmp_path / "b"), pair=noisy_pair)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "no category or prompt"}) + "\n")
    with pytest.raises(ValueError, match="needs a `category`"):
        evaluate(small_config(bad, tmp_path / "c"), pair=noisy_pair)
    with pytest.raises(ValueError, match="valid: alpha, beta"):
        evaluate(small_config(prompt_file, tmp_path / "d", categories=("gamma",)), pair=noisy_pair)
    assert not (tmp_path / "a").exists()  # failed before writing anything


def test_cli_runs_on_a_tiny_pair_with_sampling(tmp_path, prompt_file):
    out = tmp_path / "cli"
    assert main(["--prompt-source", str(prompt_file), "--pair", "tiny-noisy", "--clock", "model", "--policies",
                 "fixed-k:k=2", "--categories", "beta", "--max-new-tokens", "8", "--temperature", "0.8", "--seeds", "0",
                 "1", "--no-tensorboard", "--out", str(out)]) == 0
    rows = read_rows(out / "episodes.jsonl")
    assert len(rows) == 2 * 2 * 2 and all(r["temperature"] == 0.8 and r["verifier_nll"] > 0 for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    cond = summary["conditions"]["T=0.8,new=8"]
    assert "ppl_diff_vs_verifier" in cond["results"]["fixed-k:k=2"]["all"]
    assert not (out / "tb").exists()


@pytest.mark.parametrize("name", ABLATIONS)
def test_every_ablation_expands_to_valid_policies(name):
    plan = build_plan(EvalConfig(ablation=name))
    check_policies(plan)
    assert len(plan.variants) >= 5 and plan.notes
    assert any(family(v.label) == "fixed-k" for v in plan.variants)
    if name == "temperature":
        assert [c.temperature for c in plan.conditions] == [0.0, 0.7, 1.0]
    if name == "entropy-type":
        assert {dict(v.env).get("entropy") for v in plan.variants} >= {"shannon", "renyi", "tsallis", "topk"}


def test_eval_reads_specs_with_the_policies_grammar():
    """Row labels are policy specs (plus `eval.run`'s `` @ `` env suffix), read by `policies.base.parse_spec`:
    nested sub-spec lists stay whole, a bare first value carries no key, a malformed spec is an error."""
    from eval.metrics import policy_name, spec_params

    label = "combined:mode=any,rules=[entropy-abs:theta=1.0;fixed-k:k=8] @ stop_mode=exclude,temperature=0.7"
    assert policy_name(label) == "combined" and family(label) == "ebsd"
    assert spec_params(label) == {"mode": "any", "rules": "[entropy-abs:theta=1.0;fixed-k:k=8]"}
    assert spec_params("ppo:runs/model.zip,allow_mismatch=1") == {"allow_mismatch": "1"}
    assert family("fixed-k:k=4 @ stop_mode=include") == "fixed-k" and spec_params("no-spec") == {}
    with pytest.raises(ValueError, match="unbalanced"):
        spec_params("combined:rules=[fixed-k:k=1")


def test_statistics_on_known_data():
    assert auroc([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == 1.0
    assert auroc([1, 1, 1, 1], [False, True, False, True]) == 0.5
    assert math.isnan(auroc([1, 2], [True, True]))
    lo, hi = bootstrap_ci(np.arange(100.0))
    assert lo < 49.5 < hi and hi - lo < 25
    ratios = ratio_summary([2.0, 2.0, 2.0])
    assert ratios["mean"] == pytest.approx(2.0) and ratios["wins"] == 1.0
    row = {"blocks": [{"drafted": 4, "accepted": 1, "emitted": 2, "draft_s": 0.1, "verify_s": 0.2,
                       "entropies": [0.1, 2.0, 3.0, 4.0]}]}
    assert token_marks(row) == ([0.1, 2.0], [True, False])  # tokens after the first rejection are not judged
    curve = calibration([0.1, 0.2, 3.0, 3.1], [True, True, False, False], bins=2)
    assert curve["acceptance"] == [1.0, 0.0] and curve["count"] == [2, 2]


def _fake_row(variant: str, category: str, prompt: int, tps: float) -> dict:
    drafting = variant != "no-spec"
    blocks = [{"drafted": 3, "accepted": a, "emitted": a + 1, "draft_s": 0.03, "verify_s": 0.05,
               "entropies": [0.2 + 0.1 * a, 1.0 + a, 2.5]} for a in (0, 1, 2, 3)] if drafting else []
    stats = {"tokens_per_s": tps, "wall_tokens_per_s": tps, "new_tokens": 10, "decode_s": 10 / tps,
             "blocks": 4 if drafting else 10,
             "drafted": 12 if drafting else 0, "accepted": 6 if drafting else 0, "draft_s": 0.1, "verify_s": 0.2,
             "draft_lengths": [3] * 4 if drafting else [0] * 10, "accepted_lengths": [0, 1, 2, 3],
             "output_ids": [1, 2, 3]}
    return {"key": f"{variant}|{category}|{prompt}", "variant": variant, "family": family(variant),
            "category": category, "prompt_id": f"{category}-{prompt}", "seed": 0, "temperature": 0.0,
            "max_new_tokens": 10, "stats": stats, "blocks": blocks, "verifier_nll": None}


def test_analysis_reaches_verdicts_from_the_data():
    from eval.analysis import summarize

    speed = {"no-spec": 10.0, "fixed-k:k=2": 10.0, "entropy-abs:theta=0.5": 11.0, "entropy-abs:theta=1.5": 12.5,
             "entropy-rel:theta=2.0": 11.5, "combined": 12.0}
    categories = ["c1", "c2", "c3", "c4"]
    rows = [_fake_row(v, c, p, base * (1 + 0.1 * i) * (1 + 0.01 * p))
            for v, base in speed.items() for i, c in enumerate(categories) for p in range(4)]
    # In c4 the lower threshold wins, so the best threshold varies with the category.
    faster = {"tokens_per_s": 20.0, "decode_s": 0.5}
    rows = [dict(r, stats={**r["stats"], **faster}) if r["variant"] == "entropy-abs:theta=0.5"
            and r["category"] == "c4" else r for r in rows]
    summary = summarize(rows, {"flops_per_token": {"drafter": 1e8, "verifier": 3e8}})
    cond = summary["conditions"]["T=0,new=10"]
    # fixed-k k=2 ties with k = 0 (both 10 tokens/s): a tie goes to the shorter draft, the verifier alone.
    assert cond["best_fixed_k"] == dict.fromkeys(categories, "no-spec")
    assert cond["chosen_ebsd"] == "entropy-abs:theta=1.5"
    hyp = cond["hypotheses"]
    assert hyp["H1"]["verdict"] == "supported"
    assert all(hyp[h]["verdict"] != "not testable" for h in ("H2", "H3", "H4"))
    assert hyp["H4"]["verdict"] == "not supported"  # combined (12.0) is slower than entropy-abs theta=1.5 (12.5)
    criteria = {c["criterion"]: c["met"] for c in cond["success_criteria"]}
    assert criteria[">10% speedup over the best fixed-k on at least 50% of tasks"] is True
    overall = cond["results"]["entropy-abs:theta=1.5"]["all"]
    assert overall["speedup_vs_best_fixed_k"]["mean"] == pytest.approx(1.25)
    assert overall["acceptance_rate"] == 0.5 and overall["tau"] == pytest.approx(10 / 4)
    assert overall["gflops_per_token"] == pytest.approx((3e8 * 16 + 1e8 * 16) / 10 / 1e9)


def test_drafters_compared_side_by_side_from_their_summaries():
    from eval.analysis import summarize
    from eval.run import compare_drafters, drafters_markdown

    def summary(speed_k1: float, draft_s: float):
        speed = {"no-spec": 10.0, "fixed-k:k=1": speed_k1, "entropy-abs:theta=1.5": speed_k1 * 1.1}
        rows = [_fake_row(v, c, p, base) for v, base in speed.items() for c in ("c1", "c2") for p in range(2)]
        meta = {"cost_models": {"T0": {"draft_s": draft_s, "verify_points": [[1, 0.04], [2, 0.05]]}}}
        return summarize(rows, meta) | {"meta": meta}

    comparison = compare_drafters({"int4": summary(14.0, 0.016), "ngram": summary(9.0, 0.0004)})
    int4 = comparison["drafters"]["int4"]
    assert int4["best_fixed_k_speedup"] == pytest.approx(1.4)
    assert int4["speedups"]["entropy-abs:theta=1.5"] == pytest.approx(1.54)
    assert int4["cost_ratio"] == pytest.approx(0.4) and int4["verifier_tokens_per_s"] == pytest.approx(10.0)
    assert comparison["fastest"] == "int4"
    table = drafters_markdown(comparison)
    assert "| int4 | 10.0 | 0.400 |" in table and "1.54×" in table and "0.90×" in table


@pytest.fixture(scope="module")
def copy_ppo_file(copy_pair, tmp_path_factory):
    """A PPO model trained (briefly) on the copy pair with a 3-entropy history: an artifact for another env than
    the noisy pair's default one (another drafter, another observation shape)."""
    import gymnasium as gym
    from stable_baselines3 import PPO

    import ebsd_env  # noqa: F401  (registers the envs)
    from ebsd_env.fingerprint import env_fingerprint, save_model
    from ebsd_env.timing.cost_model import CostModel

    costs = CostModel(draft_s=0.025, verify_points=((1, 0.1), (2, 0.105), (9, 0.14)), source="toy")
    env = gym.make("EBSD-Deterministic-v1", pair=copy_pair, prompts=["hello there"], max_new_tokens=16,
                   max_draft_len=8, history=3, stop_mode="include", cost_model=costs)
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=32)
    path = tmp_path_factory.mktemp("ppo") / "copy.zip"
    save_model(model, path, env_fingerprint(env))
    return path


def test_a_trained_artifact_for_another_env_is_refused_before_the_first_episode(tmp_path, prompt_file,
                                                                                 noisy_pair, copy_ppo_file):
    from ebsd_env.fingerprint import FingerprintMismatch

    out = tmp_path / "refused"
    config = small_config(prompt_file, out, policies=("fixed-k:k=3", f"ppo:{copy_ppo_file}"))
    with pytest.raises(FingerprintMismatch, match="trained for another env: pair.drafter: 'tiny-noisy-0' here") as info:
        evaluate(config, pair=noisy_pair)
    assert "\n" not in str(info.value)
    assert read_rows(out / "episodes.jsonl") == []  # no-spec and fixed-k, first in the order, did not run either


def test_allow_mismatch_relaxes_the_check_but_keeps_the_env_the_artifact_needs(tmp_path, prompt_file, noisy_pair,
                                                                              copy_ppo_file):
    out = tmp_path / "allowed"
    config = small_config(prompt_file, out, policies=(f"ppo:{copy_ppo_file}",), allow_mismatch=True,
                          categories=("alpha",), tensorboard=False, stop_mode="exclude")
    with pytest.warns(UserWarning, match="pair.drafter: 'tiny-noisy-0' here vs 'tiny-copy-0'"):
        evaluate(config, pair=noisy_pair)
    rows = [r for r in read_rows(out / "episodes.jsonl") if r["variant"].startswith("ppo:")]
    assert len(rows) == 2 and all(r["stats"]["new_tokens"] == 16 for r in rows)
    # The env is the one in the artifact's fingerprint (history 3, include mode, 8 draft tokens at most), not the
    # run's (history 8, exclude mode, 40).
    assert all((r["env"]["history"], r["env"]["stop_mode"], r["env"]["max_draft_len"]) == (3, "include", 8)
               for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["meta"]["stop_modes"][rows[0]["variant"]] == "include"


def test_eval_reports_the_int4_copy_alone_apart_and_keeps_it_on_resume(tmp_path, prompt_file, monkeypatch):
    out = tmp_path / "lossy"
    argv = ["--prompt-source", str(prompt_file), "--pair", "tiny-noisy", "--clock", "model", "--policies",
            "fixed-k:k=2", "--categories", "beta", "--max-new-tokens", "8", "--no-tensorboard", "--out", str(out)]
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    lossy = summary["lossy_reference"]
    assert lossy["lossless"] is False and lossy["prompts"] == 2 and 0 <= lossy["agreement"] <= 1
    assert lossy == json.loads((out / "lossy_reference.json").read_text())
    assert "int4" not in summary["conditions"]["T=0,new=8"]["results"]  # never ranked with the policies

    import eval.bench.lossy

    def measured_again(*args, **kwargs):
        raise AssertionError("a resumed run measured the lossy reference again")

    monkeypatch.setattr(eval.bench.lossy, "lossy_reference", measured_again)
    assert main(argv) == 0  # resumes: every episode and the lossy reference are read back
    assert json.loads((out / "summary.json").read_text())["lossy_reference"] == lossy


def test_the_summary_records_the_verifier_alone_the_best_static_and_the_fastest_deployable_policy():
    from eval.analysis import summarize
    from eval.run import compare_drafters

    # Per category: c1 the verifier alone beats k = 2 (a static policy all the same); c2 k = 2 wins. The oracle
    # is fastest everywhere but never "the fastest policy".
    speed = {"no-spec": {"c1": 10.0, "c2": 10.0}, "fixed-k:k=2": {"c1": 8.0, "c2": 16.0},
             "entropy-abs:theta=1.5": {"c1": 12.0, "c2": 14.0}, "oracle-first-reject": {"c1": 30.0, "c2": 30.0}}
    rows = [_fake_row(v, c, p, by_cat[c]) for v, by_cat in speed.items() for c in ("c1", "c2") for p in range(2)]
    summary = summarize(rows, {})
    cond = summary["conditions"]["T=0,new=10"]
    assert cond["best_fixed_k"] == {"c1": "no-spec", "c2": "fixed-k:k=2"}
    assert cond["verifier_alone_tokens_per_s"] == {"c1": pytest.approx(10.0), "c2": pytest.approx(10.0),
                                                   "all": pytest.approx(10.0)}
    assert cond["fastest"] == {"c1": "entropy-abs:theta=1.5", "c2": "fixed-k:k=2", "all": "entropy-abs:theta=1.5"}
    # The two best static policies together: 40 tokens in 2 x 1 s + 2 x 0.625 s, over the verifier's 4 s.
    assert cond["best_static_speedup"]["mean"] == pytest.approx(40 / 3.25 / 10.0)
    # Drafter b has the faster oracle but the slower deployable policies: a is the fastest drafter.
    slow = {"no-spec": {"c1": 10.0, "c2": 10.0}, "fixed-k:k=2": {"c1": 9.0, "c2": 9.0},
            "oracle-first-reject": {"c1": 90.0, "c2": 90.0}}
    other = summarize([_fake_row(v, c, p, by_cat[c]) for v, by_cat in slow.items() for c in ("c1", "c2")
                       for p in range(2)], {})
    comparison = compare_drafters({"b": other, "a": summary})
    assert comparison["fastest"] == "a"
    assert comparison["drafters"]["a"]["best_static_speedup"] == pytest.approx(40 / 3.25 / 10.0)
