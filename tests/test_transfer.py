"""`eval.transfer` on tiny traces: a held-out (category, profile) cell's numbers against a direct computation."""

from __future__ import annotations

import json

import pytest

from ebsd_env.decoding.tiny import tiny_pair
from ebsd_env.prompts import normalise_prompts
from ebsd_env.replay.record import record
from ebsd_env.timing.cost_model import CostModel

TOKENS = 24
SPLITS = {
    "train": [("t1", "alpha", "the cat sat on"), ("t2", "alpha", "hello world, how are"),
              ("t3", "beta", "write a poem about")],
    "validation": [("v1", "alpha", "1 2 3 4 5"), ("v2", "beta", "once upon a time")],
    "test": [("x1", "alpha", "the dog ran to"), ("x2", "beta", "a b c d"), ("x3", "gamma", "translate this: la"),
             ("x4", "gamma", "bonjour le monde")],
}
# Drafting nearly free beside verification, and dearer: different statics win.
PROFILES = {"cheap": CostModel(draft_s=0.0005, verify_points=((1, 0.02), (2, 0.0205), (17, 0.025))),
            "dear": CostModel(draft_s=0.003, verify_points=((1, 0.02), (2, 0.023), (17, 0.06)))}
LEARNED = {"eager": "fixed-k:k=1", "entropy": "entropy-abs:theta=1.0"}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    out = tmp_path_factory.mktemp("transfer")
    pair = tiny_pair("noisy")
    for split, rows in SPLITS.items():
        prompts = normalise_prompts([{"id": i, "category": c, "prompt": p} for i, c, p in rows])
        record(pair, prompts, out / f"traces-{split}", max_draft_len=16, max_new_tokens=TOKENS, progress=False,
               calibrate_clock=False)
    for name, costs in PROFILES.items():
        costs.save(out / f"{name}.json")
    return out


def direct_rate(folder, costs, spec: str, category: str | None, decide_s: float = 0.0) -> float:
    """Tokens over seconds of `spec` on the traces of `category` (None: all), episode by episode, each decision
    charged `decide_s`."""
    from ebsd_env.replay import ReplayEnv, TraceSet
    from policies.registry import make_policy
    from policies.rollout import run_episode

    traces = TraceSet.load(folder)
    probe = make_policy(spec)
    settings = {"max_draft_len": 16, "stop_mode": probe.stop_mode or "include",
                "extra_signals": bool(probe.requires_extra_signals), **probe.env_requirements()}
    env = ReplayEnv(traces, max_new_tokens=TOKENS, cost_model=costs, decide_s=decide_s, **settings)
    policy = make_policy(spec, env=env)
    tokens = seconds = 0.0
    for index, trace in enumerate(traces.traces):
        if category is None or trace.category == category:
            stats = run_episode(env, policy, seed=0, options={"prompt_index": index})
            tokens, seconds = tokens + stats["new_tokens"], seconds + stats["decode_s"]
    return tokens / seconds


def direct_oracle(folder, costs, category: str) -> float:
    from ebsd_env.replay import TraceSet
    from ebsd_env.replay.oracle import optimal_plan

    traces = TraceSet.load(folder).traces
    plans = {mode: [optimal_plan(t, costs, 16, mode, TOKENS) for t in traces] for mode in ("include", "exclude")}
    mode = max(plans, key=lambda m: sum(p.tokens for p in plans[m]) / sum(p.time_s for p in plans[m]))
    kept = [p for p, t in zip(plans[mode], traces, strict=True) if t.category == category]
    return sum(p.tokens for p in kept) / sum(p.time_s for p in kept)


def test_a_held_out_cell_matches_a_direct_computation(folders):
    from eval.transfer import main

    out = folders / "out"
    assert main(["--train-traces", str(folders / "traces-train"), "--validation-traces",
                 str(folders / "traces-validation"), "--test-traces", str(folders / "traces-test"),
                 "--profiles", *(f"{name}={folders / name}.json" for name in PROFILES), "--held-out-profiles", "dear",
                 "--learned", *(f"{label}={spec}" for label, spec in LEARNED.items()),
                 "--seen", "eager=cheap,dear", "--tuned", "two=fixed-k:k=2", "--holdout-categories", "gamma",
                 "--static-ks", "1", "2", "4", "8", "--max-new-tokens", str(TOKENS), "--out", str(out),
                 "--no-progress"]) == 0
    result = json.loads((out / "transfer.json").read_text())
    assert "| gamma (held out) | dear (held out) |" in (out / "transfer.md").read_text()
    costs, test = PROFILES["dear"], folders / "traces-test"
    dear = next(p for p in result["profiles"] if p["profile"] == "dear")
    cell = dear["cells"]["gamma"]
    statics = {"no-spec": "no-spec"} | {f"fixed-k:k={k}": f"fixed-k:k={k}" for k in (1, 2, 4, 8)}

    # Every policy's decisions cost what they were measured at, once, the same under every profile.
    decide = result["decide_s"]
    assert set(decide) == {*statics.values(), "fixed-k:k=2", *LEARNED.values()} and min(decide.values()) > 0

    def rate(folder, spec, category):
        return direct_rate(folder, costs, spec, category, decide[spec])

    # gamma has no training prompt: the static is the one fastest on all training traces under this profile.
    on_train = {label: rate(folders / "traces-train", spec, None) for label, spec in statics.items()}
    static = max(on_train, key=on_train.get)
    in_hindsight = {label: rate(test, spec, "gamma") for label, spec in statics.items()}
    # "eager" trained on the held-out profile: only "entropy" may be chosen there.
    expected = {"verifier alone": rate(test, "no-spec", "gamma"),
                "static chosen on training": rate(test, statics[static], "gamma"),
                "best static in hindsight": max(in_hindsight.values()),
                "best tuned": rate(test, "fixed-k:k=2", "gamma"),
                "best learned": rate(test, LEARNED["entropy"], "gamma"),
                "learned eager": rate(test, LEARNED["eager"], "gamma"),
                "oracle-dp": direct_oracle(test, costs, "gamma")}
    assert cell["static chosen on training"] == static and cell["best learned"] == "entropy"
    assert cell["held_out"] and cell["held_out_category"] and cell["held_out_profile"]
    for label, rate in expected.items():
        assert cell["tokens_per_s"][label] == pytest.approx(rate, rel=1e-9), label
        assert cell["vs verifier alone"][label] == pytest.approx(rate / expected["verifier alone"], rel=1e-9), label
    learned, verifier = expected["best learned"], expected["verifier alone"]
    floor = learned / max(verifier, expected["static chosen on training"])
    assert cell["checks"]["vs max(verifier, static on training)"] == pytest.approx(floor)
    assert cell["checks"]["floor met"] == (floor >= 0.98)
    assert cell["checks"]["vs verifier alone"] == pytest.approx(learned / verifier)

    # Under the seen profile both learned policies compete, chosen on the validation traces.
    cheap = next(p for p in result["profiles"] if p["profile"] == "cheap")
    on_validation = {label: direct_rate(folders / "traces-validation", PROFILES["cheap"], spec, None)
                     for label, spec in LEARNED.items()}
    assert cheap["cells"]["alpha"]["best learned"] == max(on_validation, key=on_validation.get)
    assert not cheap["cells"]["alpha"]["held_out"] and cheap["cells"]["gamma"]["held_out"]
    # A category with training prompts gets the static fastest on them (not on its test prompts).
    beta_on_train = {label: direct_rate(folders / "traces-train", PROFILES["cheap"], spec, "beta", decide[spec])
                     for label, spec in statics.items()}
    assert cheap["cells"]["beta"]["static chosen on training"] == max(beta_on_train, key=beta_on_train.get)
    gamma = cheap["cells"]["gamma"]  # a cell where the static chosen on training is not the verifier alone
    verifier = direct_rate(test, PROFILES["cheap"], "no-spec", "gamma", decide["no-spec"])
    assert gamma["static chosen on training"] != "no-spec"
    assert gamma["vs verifier alone"]["oracle-dp"] == pytest.approx(
        direct_oracle(test, PROFILES["cheap"], "gamma") / verifier, rel=1e-9)
    held_out_cells = [c for p in result["profiles"] for k, c in p["cells"].items() if k != "all" and c["held_out"]]
    assert result["goals"]["held_out_cells"] == len(held_out_cells) == 4  # dear: alpha, beta, gamma; cheap: gamma
    gains = [c["checks"]["vs static on training"] for c in held_out_cells]
    assert result["goals"]["mean vs static on training"] == pytest.approx(sum(gains) / len(gains))


def test_a_held_out_profile_that_is_not_a_profile_is_refused_in_one_line(folders, capsys):
    from eval.transfer import main

    assert main(["--train-traces", str(folders / "traces-train"), "--validation-traces",
                 str(folders / "traces-validation"), "--test-traces", str(folders / "traces-test"),
                 "--profiles", f"cheap={folders / 'cheap.json'}", "--held-out-profiles", "dear", "--out",
                 str(folders / "refused"), "--no-progress"]) == 2
    assert "--held-out-profiles names no --profiles entry: ['dear']" in capsys.readouterr().err
    assert not (folders / "refused").exists()
