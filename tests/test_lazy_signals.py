"""Draft signals are computed when read and charged to whoever reads them (docs/env.md, "Signals").

A policy that reads no token signal (fixed k) runs in an env with observation="position" and computes none; an
entropy policy pays, on the wall clock, for the entropies its observations read; `ebsd eval`'s per-block entropy
record is a diagnostic that charges nobody, not even the policy's decision time."""

from __future__ import annotations

import dataclasses
import json
import time
from types import SimpleNamespace

import gymnasium as gym
import pytest
import torch

from ebsd_env.decoding import entropy as entropy_module
from ebsd_env.decoding.protocol import SignalSource
from ebsd_env.decoding.sampling import greedy_token
from ebsd_env.envs.observation import TOP_LOGPROBS, ObservationLayout
from ebsd_env.timing.cost_model import CostModel
from policies.registry import make_policy
from policies.rollout import run_episode

PROMPTS = [{"id": "a", "category": "chat", "prompt": "hello there, how are you?"},
           {"id": "b", "category": "chat", "prompt": "the cat sat on the mat"}]
TOY_COSTS = CostModel(draft_s=0.025, verify_points=((1, 0.1), (2, 0.105), (9, 0.14), (17, 0.18)), source="toy")
SLEEP_S = 0.005


def make(pair, **kwargs):
    kwargs.setdefault("prompts", PROMPTS)
    kwargs.setdefault("max_new_tokens", 24)
    kwargs.setdefault("max_draft_len", 6)
    kwargs.setdefault("cost_model", TOY_COSTS)
    return gym.make("EBSD-v1", pair=pair, **kwargs)  # the wall clock unless given, no calibration


@pytest.fixture
def counted(monkeypatch):
    """Counts the entropy computations and the probability computations (`calls`); `slow()` makes each entropy
    take SLEEP_S longer."""
    calls = {"entropy": 0, "probabilities": 0, "sleep": 0.0}
    shannon, probabilities = entropy_module.shannon, SignalSource.probability_group

    def counting_shannon(*args, **kwargs):
        calls["entropy"] += 1
        if calls["sleep"]:
            time.sleep(calls["sleep"])
        return shannon(*args, **kwargs)

    def counting_probabilities(self):
        calls["probabilities"] += 1
        return probabilities(self)

    monkeypatch.setattr(entropy_module, "shannon", counting_shannon)
    monkeypatch.setattr(SignalSource, "probability_group", counting_probabilities)
    calls["slow"] = lambda: calls.__setitem__("sleep", SLEEP_S)
    return calls


def test_greedy_token_is_the_softmax_top_index():
    """The draft token needs no softmax, yet is the same token as the softmax's top-k index 0: far from a tie by
    the argmax, near and at ties (where the softmax may round logits together) the original way."""
    generator = torch.Generator().manual_seed(0)
    cases = [torch.randn(49152, generator=generator) * scale for scale in (0.01, 1.0, 10.0, 1000.0)]
    tied = torch.randn(4096, generator=generator)
    for gap in (0.0, 1e-7, 1e-6, 1e-4, 1e-2):  # exact ties, one float32 step, just inside / outside TIE_GAP
        case = tied.clone()
        top = int(case.argmax())
        case[7], case[3000] = case[top], case[top] - gap
        cases.append(case)
    three = torch.zeros(64)
    three[[5, 9, 40]] = 2.0  # three exact ties
    padded = torch.cat([torch.randn(100, generator=generator), torch.full((28,), float("-inf"))])
    cases += [three, padded, torch.full((64,), 3.0)]
    for case in cases:
        assert greedy_token(case) == int(torch.softmax(case, dim=-1).topk(TOP_LOGPROBS).indices[0])


def test_a_fixed_k_episode_computes_no_signal(noisy_pair, counted):
    """Fixed k in the env eval binds it to (observation="position") computes no entropy and no probability,
    charges no signal time, shows none in info, and decodes the same output."""
    env = make(noisy_pair, observation="position")
    result = run_episode(env, make_policy("fixed-k:k=3"), seed=0, options={"prompt_index": 0})
    assert result["drafted"] > 0
    assert counted["entropy"] == counted["probabilities"] == 0
    assert env.unwrapped.decoder.signal_s == 0.0
    _, info = env.reset(seed=0, options={"prompt_index": 0})
    _, _, _, _, info = env.step(0)
    assert info["position"] == 1 and not {"entropy", "top1_prob", "margin", "token_prob"} & set(info)
    reference = run_episode(make(noisy_pair), make_policy("fixed-k:k=3"), seed=0, options={"prompt_index": 0})
    assert result["output_ids"] == reference["output_ids"]
    assert result["draft_lengths"] == reference["draft_lengths"]


def test_an_entropy_observation_computes_each_entropy_once_and_nothing_else(noisy_pair, counted):
    env = make(noisy_pair)
    result = run_episode(env, make_policy("entropy-abs:theta=1.0"), seed=0, options={"prompt_index": 1})
    assert counted["entropy"] == result["drafted"] + result["discarded"] > 0
    assert counted["probabilities"] == 0  # no extra signals: no softmax over the vocabulary either


def test_signal_time_is_charged_to_the_policy_that_reads_it(noisy_pair, counted):
    """With every entropy taking 5 ms longer, an entropy policy's charged drafting time (wall clock) grows by at
    least 5 ms per draft step, in the block's draft time as in the env's totals; fixed k's does not."""
    counted["slow"]()
    entropy_env = make(noisy_pair)
    reads = run_episode(entropy_env, make_policy("entropy-abs:theta=1.0"), seed=0, options={"prompt_index": 1})
    steps = reads["drafted"] + reads["discarded"]
    assert steps > 0 and counted["entropy"] == steps
    assert reads["draft_s"] >= SLEEP_S * steps
    assert reads["draft_s"] == pytest.approx(reads["wall_draft_s"], rel=1e-9)  # the blocks' own draft times
    assert reads["decode_s"] == pytest.approx(reads["draft_s"] + reads["verify_s"] + reads["decide_s"])

    counted["entropy"] = 0
    fixed = run_episode(make(noisy_pair, observation="position"), make_policy("fixed-k:k=3"), seed=0,
                        options={"prompt_index": 1})
    fixed_steps = fixed["drafted"] + fixed["discarded"]
    assert counted["entropy"] == 0
    assert fixed["draft_s"] < SLEEP_S * fixed_steps


def test_eval_block_entropies_charge_nobody(noisy_pair, counted):
    """`ebsd eval` records every block's entropies, fixed k's included (its entropy calibration pools them): the
    values are the drafter's, and computing them is neither drafting time nor the policy's decision time."""
    from eval.run.episodes import BlockRecorder

    counted["slow"]()
    env = BlockRecorder(make(noisy_pair, observation="position"))
    result = run_episode(env, make_policy("fixed-k:k=3"), seed=0, options={"prompt_index": 0})
    drafted = result["drafted"]
    assert [len(block["entropies"]) for block in env.blocks] == result["draft_lengths"]
    assert counted["entropy"] == drafted > 0
    assert result["draft_s"] < SLEEP_S * drafted
    assert result["decide_s"] < SLEEP_S * drafted
    counted["sleep"] = 0.0
    entropy_env = BlockRecorder(make(noisy_pair))
    run_episode(entropy_env, make_policy("fixed-k:k=3"), seed=0, options={"prompt_index": 0})
    assert [block["entropies"] for block in entropy_env.blocks] == [block["entropies"] for block in env.blocks]


def test_the_position_observation(noisy_pair):
    layout = ObservationLayout(history=8, max_draft_len=6, max_new_tokens=24, entropy_scale=1.0,
                               observation="position")
    assert layout.size == 1 and not layout.has_entropy and not layout.has_ltd
    assert layout.decode(layout.encode([], 3)).position == 3
    with pytest.raises(ValueError, match="no token signal"):
        ObservationLayout(history=8, max_draft_len=6, max_new_tokens=24, entropy_scale=1.0,
                          observation="position", extra_signals=True)
    env = make(noisy_pair, observation="position")
    for spec in ("entropy-abs:theta=1.0", "hf-confidence"):
        with pytest.raises(ValueError, match="observation='position'|lacks"):
            make_policy(spec, env=env)
    for spec in ("fixed-k:k=2", "no-spec", "random-k", "oracle-first-reject", "bandit-ucb"):
        assert make_policy(spec, env=env).layout.observation == "position"


def test_eval_binds_policies_that_read_no_signal_to_the_position_observation():
    from eval.run.config import ENV_KEYS
    from eval.run.episodes import Bindings
    from eval.run.plan import Variant

    specs = ("fixed-k:k=2", "no-spec", "oracle-first-reject", "bandit-ucb", "entropy-abs:theta=1.0", "svip")
    probes = {spec: make_policy(spec) for spec in specs}
    config = SimpleNamespace(**{key: None for key in ENV_KEYS})
    bindings = Bindings(None, config, None, [], probes)
    observation = {spec: bindings.settings(Variant(spec)).get("observation") for spec in specs}
    assert observation == {"fixed-k:k=2": "position", "no-spec": "position", "oracle-first-reject": "position",
                           "bandit-ucb": "position", "entropy-abs:theta=1.0": None, "svip": None}


# ------------------------------------------------------------------ the model clock's signal cost (`signal_s`)
SIGNAL_S = 0.01


def model_episode(pair, spec: str, signal_s: float, **kwargs) -> tuple[dict, float]:
    """One model-clock episode of `spec` with `signal_s` per read step: (its statistics, the sum of its blocks'
    `info["draft_time_s"]`)."""
    costs = dataclasses.replace(TOY_COSTS, signal_s=signal_s)
    env = make(pair, clock="model", cost_model=costs, **kwargs)
    policy = make_policy(spec, env=env)
    obs, _ = env.reset(seed=0, options={"prompt_index": 1})
    policy.reset()
    blocks_s, done = 0.0, False
    while not done:
        obs, _, terminated, truncated, info = env.step(policy.predict(obs)[0])
        blocks_s += info.get("draft_time_s", 0.0)
        done = terminated or truncated
    return info["episode_stats"], blocks_s


@pytest.mark.parametrize("stop_mode,spec", [("include", "entropy-abs:theta=1.0"), ("exclude", "svip")])
def test_the_model_clock_charges_signal_s_per_read_step_to_signal_readers_only(noisy_pair, stop_mode, spec):
    """With `signal_s`, a policy whose observation reads token signals pays exactly `signal_s` more drafting time
    per draft step (discarded ones too: they were read), in the totals and in its blocks' draft times; a fixed-k
    policy (observation="position") pays nothing more."""
    base, _ = model_episode(noisy_pair, spec, 0.0, stop_mode=stop_mode)
    reads, blocks_s = model_episode(noisy_pair, spec, SIGNAL_S, stop_mode=stop_mode)
    steps = reads["drafted"] + reads["discarded"]
    assert steps > 0 and (stop_mode == "include" or reads["discarded"] > 0)
    assert reads["output_ids"] == base["output_ids"] and reads["draft_lengths"] == base["draft_lengths"]
    assert reads["draft_s"] == pytest.approx(base["draft_s"] + steps * SIGNAL_S, rel=1e-12)
    assert reads["decode_s"] == pytest.approx(base["decode_s"] + steps * SIGNAL_S, rel=1e-12)
    assert blocks_s == pytest.approx(reads["draft_s"], rel=1e-12)
    fixed, _ = model_episode(noisy_pair, "fixed-k:k=3", 0.0, observation="position")
    fixed_signal, fixed_blocks_s = model_episode(noisy_pair, "fixed-k:k=3", SIGNAL_S, observation="position")
    assert fixed["drafted"] > 0
    assert fixed_signal["draft_s"] == fixed["draft_s"] == fixed_blocks_s


def test_signal_s_round_trips_and_old_files_keep_their_hash(tmp_path):
    """`signal_s` is saved and loaded; a model without it writes the file it always wrote, an old file loads as
    0 and hashes as before (the fingerprint's clock hash); a nonzero one changes the hash; negative is refused."""
    from ebsd_env.fingerprint import cost_model_hash
    from ebsd_env.timing.cost_model import price

    costs = dataclasses.replace(TOY_COSTS, signal_s=0.003)
    costs.save(tmp_path / "costs.json")
    assert CostModel.load(tmp_path / "costs.json") == costs and costs.to_dict()["signal_s"] == 0.003
    assert "signal_s" not in TOY_COSTS.to_dict()
    old = {"draft_s": 0.025, "verify_points": [[1, 0.1], [2, 0.105], [9, 0.14], [17, 0.18]]}
    (tmp_path / "old.json").write_text(json.dumps(old))
    loaded = CostModel.load(tmp_path / "old.json")
    assert loaded.signal_s == 0.0
    assert cost_model_hash(loaded) == cost_model_hash(TOY_COSTS) == "03630d9c0314e830"  # the hash before signal_s
    assert cost_model_hash(costs) != cost_model_hash(TOY_COSTS)
    with pytest.raises(ValueError, match="signal_s"):
        CostModel.from_dict({**old, "signal_s": -1e-3})
    assert price(costs, [2, 3], discarded=1) == price(TOY_COSTS, [2, 3], discarded=1)  # generate() reads none


def test_calibration_prices_signals_apart_from_the_draft_step(noisy_pair, counted):
    """With every entropy taking 20 ms longer, the calibrated `signal_s` holds them and `draft_s` does not."""
    from ebsd_env.timing.calibration import calibrate

    counted["sleep"] = 0.02
    costs = calibrate(noisy_pair, repeats=2, validate=False, tolerance=10.0)
    assert counted["entropy"] > 0
    assert costs.signal_s >= 0.02
    assert costs.draft_s < 0.02
