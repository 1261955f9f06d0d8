"""Cost profiles as a training distribution: the shipped sets, one profile drawn per episode (seeded, and priced
exactly as that profile's own clock would), `ebsd train ppo` / `ebsd tune` on traces with them, and bad files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ebsd_env.envs.ebsd import normalise_prompts
from ebsd_env.replay import ReplayEnv
from ebsd_env.replay.record import record
from ebsd_env.replay.vector import ReplayVectorEnv
from ebsd_env.timing.cost_model import CostModel
from ebsd_env.timing.cost_profiles import DRAFT_RATIOS, PROFILES_DIR, CostProfiles, synthetic_family
from policies import make_policy, run_episode

TOY_COSTS = CostModel(draft_s=0.025, verify_points=((1, 0.1), (2, 0.105), (9, 0.14), (17, 0.18)), source="toy")
PROMPTS = normalise_prompts(["the cat sat on", "hello world, how are", "1 2 3 4 5"])
MAX_DRAFT, BUDGET = 6, 24
PROFILES = ("h200", PROFILES_DIR / "synthetic" / "synthetic-cpu-draft0.2.json",
            PROFILES_DIR / "synthetic" / "synthetic-flat-draft0.01.json")


@pytest.fixture(scope="module")
def traces(noisy_pair, tmp_path_factory):
    out = tmp_path_factory.mktemp("traces") / "noisy"
    record(noisy_pair, PROMPTS, out, max_draft_len=MAX_DRAFT, max_new_tokens=BUDGET, shard_size=2, progress=False,
           calibrate_clock=False)
    TOY_COSTS.save(out / "cost_model.json")
    return out


def test_shipped_profiles_are_the_documented_family_and_the_h200_figures():
    family = synthetic_family()
    shipped = {path.stem: json.loads(path.read_text()) for path in (PROFILES_DIR / "synthetic").glob("*.json")}
    assert shipped == family  # the files are the generator's output, not hand-edited
    ratios = sorted({round(data["draft_s"] / data["verify_points"][0][1], 6) for data in family.values()})
    assert ratios == sorted(DRAFT_RATIOS) and min(ratios) == 0.01 and max(ratios) == 0.8
    models = {name: CostModel.from_dict(data) for name, data in family.items()}
    steepness = {name: m.verify_cost(2) / m.verify_cost(1) for name, m in models.items()}
    assert min(steepness.values()) < 1.01 and max(steepness.values()) >= 1.5  # flat (GPU-like) to steep (CPU)
    h200 = CostProfiles.load(["h200"])
    assert len(h200) == 4
    for name, model in zip(h200.names, h200.models, strict=True):
        data = json.loads((PROFILES_DIR / "h200" / f"{name}.json").read_text())
        assert "H200" in data["description"] and "bf16" in data["description"]
        # Nearly flat, GPU-like: 33 tokens cost at most 1.25 of one, every verification 19-24 ms.
        assert 0.019 <= model.verify_cost(1) <= model.verify_cost(33) <= 1.25 * model.verify_cost(1) <= 0.030
        assert 0.010 <= model.draft_s <= 0.019


def drawn_profiles(traces, seeds) -> list[str]:
    env = ReplayEnv(traces, cost_profiles=PROFILES)
    return [env.reset(seed=seed)[1]["cost_profile"] for seed in seeds]


def test_replay_env_draws_one_profile_per_episode_reproducibly(traces):
    seeds = range(24)
    names = drawn_profiles(traces, seeds)
    assert names == drawn_profiles(traces, seeds)  # the same seeds, the same profiles
    assert len(set(names)) == 6  # every profile drawn: four H200, two synthetic
    # Without a seed, episodes follow the env's seed: the same sequence for the same env seed.
    sequences = []
    for _ in range(2):
        env = ReplayEnv(traces, cost_profiles=PROFILES, seed=3)
        sequences.append([env.reset()[1]["cost_profile"] for _ in range(12)])
    assert sequences[0] == sequences[1] and len(set(sequences[0])) > 1
    # Each episode is priced exactly as that profile's own clock prices it.
    env = ReplayEnv(traces, cost_profiles=PROFILES)
    profiles = CostProfiles.load(PROFILES)
    for seed in range(6):
        result = run_episode(env, make_policy("fixed-k:k=2", env=env), seed=seed, options={"prompt_index": seed % 3})
        alone = ReplayEnv(traces, clock="profile", cost_model=profiles.models[profiles.names.index(
            result["cost_profile"])])
        expected = run_episode(alone, make_policy("fixed-k:k=2", env=alone), seed=seed,
                               options={"prompt_index": seed % 3})
        assert result["decode_s"] == expected["decode_s"] and result["tokens_per_s"] == expected["tokens_per_s"]
        assert result["baseline_tokens_per_s"] == expected["baseline_tokens_per_s"]


def vector_episodes(traces, seed, steps=400, **kwargs) -> list[tuple]:
    """(trace, profile, decode seconds, return) of every episode a fixed-k:k=2 plan finishes in `steps` steps."""
    venv = ReplayVectorEnv(traces, num_envs=3, seed=seed, stop_mode="include", max_draft_len=MAX_DRAFT, **kwargs)
    policy = make_policy("fixed-k:k=2", layout=venv.layout)
    obs, _ = venv.reset()
    episodes = []
    for _ in range(steps):
        obs, _, _, _, infos = venv.step(policy.predict(obs)[0])
        if "final_info" in infos:
            stats = infos["final_info"]
            for i in np.flatnonzero(infos["_final_info"]):
                episodes.append((int(stats["trace_index"][i]), int(stats.get("cost_profile", [-1] * 3)[i]),
                                 float(stats["decode_s"][i]), float(stats["episode_return"][i])))
    return episodes


def test_vector_env_draws_profiles_per_episode_reproducibly_and_prices_them_exactly(traces):
    episodes = vector_episodes(traces, seed=0, cost_profiles=PROFILES)
    assert len(episodes) > 20 and episodes == vector_episodes(traces, seed=0, cost_profiles=PROFILES)
    assert {profile for _, profile, _, _ in episodes} == set(range(6))
    assert episodes != vector_episodes(traces, seed=1, cost_profiles=PROFILES)
    # Profiles are drawn from a stream of their own: the traces drawn are a run without profiles'.
    plain = vector_episodes(traces, seed=0)
    assert [e[0] for e in plain] == [e[0] for e in episodes]
    # Each episode's time and return are those of the replay env on that profile's clock.
    profiles = CostProfiles.load(PROFILES)
    for trace, profile, decode_s, episode_return in episodes[:8]:
        env = ReplayEnv(traces, clock="profile", cost_model=profiles.models[profile], stop_mode="include",
                        max_draft_len=MAX_DRAFT)
        result = run_episode(env, make_policy("fixed-k:k=2", env=env), seed=0, options={"prompt_index": trace})
        assert decode_s == pytest.approx(result["decode_s"], rel=1e-12)
        # The return: (tokens - rho * seconds) / scale with this profile's rho (the verifier alone on it).
        rho = profiles.models[profile].verifier_rate
        assert episode_return == pytest.approx((result["new_tokens"] - rho * decode_s) / (MAX_DRAFT + 1), rel=1e-9)


def test_bad_profiles_give_one_line_errors_naming_the_file(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    missing_field = tmp_path / "nodraft.json"
    missing_field.write_text(json.dumps({"verify_points": [[1, 0.1], [2, 0.2]]}))
    falling = tmp_path / "falling.json"
    falling.write_text(json.dumps({"draft_s": 0.01, "verify_points": [[1, 0.2], [2, 0.1]]}))
    (tmp_path / "empty").mkdir()
    for item, message in ((broken, "broken.json' is not a readable JSON file"),
                          (missing_field, "nodraft.json': cost profile lacks field.*draft_s"),
                          (falling, "falling.json': non-monotone cost curve"),
                          (tmp_path / "nowhere.json", "nowhere.json' is neither a file, a folder"),
                          (tmp_path / "empty", "holds no .json profiles")):
        with pytest.raises(ValueError, match=message) as error:
            CostProfiles.load([item])
        assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="named twice"):
        CostProfiles.load(["h200", "h200"])


def test_train_ppo_and_tune_sample_profiles_on_traces(traces, tmp_path, capsys):
    from train import ppo, tune

    common = ["--max-new-tokens", str(BUDGET), "--max-draft-len", str(MAX_DRAFT)]
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    for argv, message in (([], "--cost-profiles prices recorded traces.*add --traces DIR"),
                          (["--traces", str(traces), "--cost-model", str(traces / "cost_model.json")], "not both"),
                          (["--traces", str(traces)], "bad.json': a cost profile is a JSON object")):
        with pytest.raises(ValueError, match=message):
            ppo.main(["--clock", "model", "--runs-dir", str(tmp_path / "refused"), "--cost-profiles", str(bad),
                      *common, *argv])
        assert not (tmp_path / "refused").exists()  # refused before the run folder
    assert tune.main(["bayes", "--rule", "entropy-abs", "--traces", str(traces), "--cost-profiles", str(bad),
                      "--storage", str(tmp_path / "refused" / "tune.db")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("ebsd tune: cost profile ") and "bad.json'" in line
    assert not (tmp_path / "refused").exists()

    ppo.main(["--traces", str(traces), "--clock", "model", "--num-envs", "4", "--total-timesteps", "128",
              "--n-steps", "32", "--batch-size", "64", "--n-epochs", "1", "--runs-dir", str(tmp_path / "runs"),
              "--no-progress-bar", "--eval-freq", "64", "--checkpoint-freq", "64", "--fixed-ks", "2",
              "--live-eval-freq", "0", "--eval-prompts-per-category", "1", "--cost-profiles", *map(str, PROFILES),
              *common])
    (run,) = (tmp_path / "runs").iterdir()
    assert sorted(json.loads((run / "cost_profiles.json").read_text())) == sorted(CostProfiles.load(PROFILES).names)
    assert not (run / "cost_model.json").exists()
    assert tune.main(["bayes", "--rule", "entropy-abs", "--traces", str(traces), "--budget", "2",
                      "--storage", str(tmp_path / "tune.db"), "--out", str(tmp_path / "best.json"),
                      "--max-new-tokens", str(BUDGET), "--env-max-draft-len", str(MAX_DRAFT),
                      "--prompts-per-category", "2", "--cost-profiles", "h200", "synthetic"]) == 0
    best = json.loads((tmp_path / "best.json").read_text())["best"]
    assert all(row["tokens_per_s"] > 0 and "oracle_dp_share" not in row for row in best.values())


def test_the_shipped_cpu_profiles_name_their_machine_and_price_like_a_cpu():
    cpu = CostProfiles.load(["cpu"])
    assert set(cpu.names) == {"cpu-amd-epyc-2core-1t-distilled", "cpu-amd-epyc-2core-1t-int4",
                              "cpu-amd-epyc-zen3-2core-1t-feature-v1", "cpu-amd-epyc-zen3-2core-1t-int4"}
    for costs in cpu.models:
        assert costs.fingerprint["cpu"] and costs.fingerprint["threads"] == 1
        assert costs.context_aware and costs.signal_s > 0
        # A CPU verifies more tokens at a visibly higher cost, unlike the nearly flat H200 profiles.
        assert costs.verify_cost(9) > 1.2 * costs.verify_cost(1)
