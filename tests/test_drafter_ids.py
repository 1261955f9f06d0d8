"""The feature drafters' ids (`ebsd_env.drafter_ids`): `feature-v2` and `feature-v1`, their old names `feature` (the
"latest" alias) and `distilled` (deprecated), and artifacts recorded under the old names binding to the new ids."""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import pytest

from ebsd_env import drafter_ids
from ebsd_env.drafter_ids import canonical_drafter, same_drafter

ROOT = Path(__file__).resolve().parents[1]
TRAINED = ROOT / "policies" / "trained"


@pytest.fixture
def fresh_warnings(monkeypatch):
    """Every test sees the deprecation warning as a new process would (it fires once per process)."""
    monkeypatch.setattr(drafter_ids, "_warned", set())


@pytest.mark.parametrize(("spec", "canonical"), [
    ("feature", "feature-v2"), ("distilled", "feature-v1"), ("feature-v2", "feature-v2"),
    ("feature-v1", "feature-v1"), ("int4+feature+ngram", "int4+feature-v2+ngram"),
    ("int4+distilled", "int4+feature-v1"), ("feature:/runs/x/export", "feature:/runs/x/export"),
    ("distilled:/runs/x/export", "distilled:/runs/x/export"), ("feature:", "feature-v2"),
    ("int4", "int4"), ("HuggingFaceTB/SmolLM2-135M", "HuggingFaceTB/SmolLM2-135M"), ("int4++ngram", "int4++ngram"),
    (None, None)])
def test_old_names_read_as_the_new_ids(spec, canonical, fresh_warnings):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert canonical_drafter(spec) == canonical


def test_distilled_warns_once_naming_the_new_id_and_feature_never(fresh_warnings):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        canonical_drafter("feature")
        canonical_drafter("int4+feature+ngram")
        canonical_drafter("distilled:/runs/x/export")  # a folder: "distilled" is true of what it holds
        assert not caught  # `feature` is the current version's alias, like a "latest" tag
        canonical_drafter("distilled")
        canonical_drafter("distilled")
        canonical_drafter("distilled", warn=False)
    assert len(caught) == 1 and issubclass(caught[0].category, FutureWarning)
    assert "'distilled' is deprecated" in str(caught[0].message) and "'feature-v1'" in str(caught[0].message)


def test_same_drafter_reads_both_sides_through_the_aliases():
    assert same_drafter("distilled", "feature-v1") and same_drafter("feature", "feature-v2")
    assert same_drafter("int4+feature+ngram", "int4+feature-v2+ngram")
    assert same_drafter(["int4", "feature", "ngram"], ["int4", "feature-v2", "ngram"])
    assert not same_drafter("distilled", "feature-v2") and not same_drafter("feature", "feature-v1")
    assert not same_drafter("distilled", "int4")
    assert same_drafter("distilled:/runs/x", "feature:/runs/x") and not same_drafter("feature:/runs/x", "feature:/y")


def _loaded_folders(monkeypatch) -> list:
    """Replace the shipped-drafter loader by one that records the folder asked for (and drafts as the verifier)."""
    from ebsd_env.decoding import drafters

    folders = []

    def load(verifier, folder):
        folders.append(Path(folder))
        return copy.deepcopy(verifier)

    monkeypatch.setattr(drafters, "load_distilled_drafter", load)
    return folders


def test_old_ids_load_the_same_shipped_drafter(monkeypatch, fresh_warnings, copy_pair):
    from ebsd_env.decoding.drafters import SHIPPED_DRAFTERS
    from ebsd_env.decoding.models import ModelLoadError, derive_drafter

    folders = _loaded_folders(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        for name in ("feature-v2", "feature", "feature-v1", "distilled", "feature:/x", "distilled:/x"):
            derive_drafter(copy_pair.verifier, name)
    with pytest.raises(ModelLoadError, match="unknown derived drafter 'feature-v1:/x'"):
        derive_drafter(copy_pair.verifier, "feature-v1:/x")  # a folder is named feature:FOLDER
    v2, v1 = SHIPPED_DRAFTERS["feature-v2"], SHIPPED_DRAFTERS["feature-v1"]
    assert folders == [v2, v2, v1, v1, Path("/x"), Path("/x")]
    assert v2.name == "smollm2-135m-feature-v2" and v1.name == "smollm2-135m-feature"


def test_load_pair_records_the_canonical_id(monkeypatch, fresh_warnings, tmp_path):
    from ebsd_env.decoding.models import load_pair
    from ebsd_env.decoding.tiny import tiny_model, tiny_tokenizer

    tokenizer = tiny_tokenizer("abcdefgh ")
    tiny_model(len(tokenizer), 0).save_pretrained(tmp_path / "verifier")
    tokenizer.save_pretrained(tmp_path / "verifier")
    folders = _loaded_folders(monkeypatch)
    verifier = str(tmp_path / "verifier")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert load_pair("feature", verifier, kernels="plain").drafter_name == "feature-v2"
        assert load_pair("ngram+feature", verifier, kernels="plain").drafter.names == ["ngram", "feature-v2"]
        assert not caught
        assert load_pair("distilled", verifier, kernels="plain").drafter_name == "feature-v1"
    assert [str(w.message) for w in caught] == [
        "drafter id 'distilled' is deprecated: use 'feature-v1' (the same drafter)"]
    assert caught[0].filename == __file__  # points at the caller's line
    assert len(folders) == 3


def test_an_unknown_id_is_one_line_listing_the_valid_ids(tmp_path):
    from ebsd_env.decoding.models import DERIVED_DRAFTERS, ModelLoadError, derive_drafter, load_pair
    from ebsd_env.decoding.tiny import tiny_model, tiny_tokenizer

    tokenizer = tiny_tokenizer("abcdefgh ")
    tiny_model(len(tokenizer), 0).save_pretrained(tmp_path / "verifier")
    tokenizer.save_pretrained(tmp_path / "verifier")
    with pytest.raises(ModelLoadError) as info:
        load_pair("feature-v3", str(tmp_path / "verifier"))
    message = str(info.value)
    assert "\n" not in message and "feature-v2, feature-v1" in message
    assert "old names feature = feature-v2, distilled = feature-v1" in message
    with pytest.raises(ModelLoadError, match=r"unknown derived drafter 'int3'; valid: .*feature-v2, feature-v1.*"
                                             r"\(old names feature = feature-v2, distilled = feature-v1\)") as info:
        derive_drafter(tiny_model(12, 0), "int3")
    assert "\n" not in str(info.value) and all(name in str(info.value) for name in DERIVED_DRAFTERS)


# ---------------------------------------------------------------------------------------------- recorded artifacts
def _zip_fingerprint(name: str) -> dict:
    from ebsd_env.fingerprint import read_zip

    return read_zip(TRAINED / name)


def test_the_shipped_policies_made_with_old_names_bind_to_the_new_ids():
    from ebsd_env.fingerprint import FingerprintMismatch, check_artifact_fingerprint, differences

    embedded = _zip_fingerprint("ppo_embedded.zip")
    assert embedded["pair"]["drafter"] == "distilled"  # as shipped: the artifact is not rewritten
    here = copy.deepcopy(embedded)
    here["pair"]["drafter"] = "feature-v1"
    assert differences(embedded, here)[0] == []
    check_artifact_fingerprint(embedded, here, "ppo_embedded.zip")
    here["pair"]["drafter"] = "feature"  # v2: another drafter
    with pytest.raises(FingerprintMismatch, match=r"pair.drafter: 'feature-v2' here vs 'feature-v1' \(trained\)"):
        check_artifact_fingerprint(embedded, here, "ppo_embedded.zip")

    multi = _zip_fingerprint("ppo_multi.zip")
    assert multi["pair"]["drafter"] == "int4+feature+ngram"
    assert multi["multi"]["drafters"] == ["int4", "feature", "ngram"]
    here = copy.deepcopy(multi)
    here["pair"]["drafter"], here["multi"]["drafters"] = "int4+feature-v2+ngram", ["int4", "feature-v2", "ngram"]
    assert differences(multi, here)[0] == []
    here["multi"]["drafters"] = ["int4", "feature-v1", "ngram"]
    assert differences(multi, here)[0] == [
        "multi: drafters ['int4', 'feature-v1', 'ngram'] here vs ['int4', 'feature-v2', 'ngram'] (trained)"]


def test_new_fingerprints_record_the_canonical_id(copy_pair):
    from ebsd_env.decoding.models import ModelPair
    from ebsd_env.timing.cost_model import pair_fingerprint

    pair = ModelPair(copy_pair.drafter, copy_pair.verifier, copy_pair.tokenizer, "distilled", "v")
    assert pair_fingerprint(pair)["drafter"] == "feature-v1"
    pair = ModelPair(copy_pair.drafter, copy_pair.verifier, copy_pair.tokenizer, "int4+feature+ngram", "v")
    assert pair_fingerprint(pair)["drafter"] == "int4+feature-v2+ngram"


def test_traces_and_profiles_recorded_under_old_names_bind_to_the_new_ids():
    from ebsd_env.replay.trace import describe_mismatch
    from ebsd_env.timing.clock import check_calibration_pair
    from ebsd_env.timing.cost_model import CostModel
    from ebsd_env.timing.multi_clock import load_multi_costs

    recorded = {"drafter": "distilled", "verifier": "embedded:smollm2-135m-instruct", "drafter_hash": "fa93"}
    assert describe_mismatch({**recorded, "drafter": "feature-v1"}, recorded, "pair") is None
    assert describe_mismatch({**recorded, "drafter": "feature-v2"}, recorded, "pair") == (
        "pair drafter='distilled', expected 'feature-v2'")

    profile = CostModel.load(ROOT / "ebsd_env/timing/profiles/cpu/cpu-amd-epyc-2core-1t-distilled.json")
    assert profile.fingerprint["drafter"] == "distilled"
    check_calibration_pair(profile, {"drafter": "feature-v1", "verifier": "embedded:smollm2-135m-instruct"}, "pair")
    with pytest.raises(ValueError, match="calibrated with drafter='distilled' but this pair has 'int4'"):
        check_calibration_pair(profile, {"drafter": "int4", "verifier": "embedded:smollm2-135m-instruct"},
                               "this pair")

    costs = {"drafters": {name: profile.to_dict() for name in ("int4", "feature", "ngram")}}
    assert len(load_multi_costs(costs, ["int4", "feature-v2", "ngram"])) == 3
    costs = {"drafters": {name: profile.to_dict() for name in ("int4", "feature-v2", "ngram")}}
    assert len(load_multi_costs(costs, ["int4", "feature", "ngram"])) == 3


def test_multi_policies_name_drafters_by_old_or_new_ids():
    from policies import make_policy

    specs = json.loads((TRAINED / "ppo_multi.json").read_text())["validation_replay"]["specs"]
    spec = specs["static feature (fit on train)"]
    assert spec == "multi-static:drafter=feature,k=2"
    policy = make_policy(spec)
    policy.names = ["int4", "feature-v2", "ngram"]  # a live env of today
    assert policy.drafter_index("feature", "drafter") == policy.drafter_index("feature-v2", "drafter") == 1
    policy.names = ["int4", "feature", "ngram"]  # names as an env made before the rename held them
    assert policy.drafter_index("feature-v2", "drafter") == 1
    with pytest.raises(ValueError, match="'distilled' is not a drafter of this env"):
        policy.drafter_index("distilled", "drafter")


def test_replay_envs_on_traces_recorded_under_old_names_fingerprint_the_new_ids(noisy_pair, tmp_path):
    """Multi-drafter traces whose manifest names `feature` (as recorded before the rename) replay under the
    canonical `feature-v2`, and a single-drafter set recorded as `distilled` fingerprints as `feature-v1`."""
    import gymnasium as gym

    import ebsd_env  # noqa: F401  (registers the env ids)
    from ebsd_env.decoding.models import derive_drafter
    from ebsd_env.decoding.multi import multi_pair
    from ebsd_env.fingerprint import env_fingerprint
    from ebsd_env.replay.env import ReplayEnv
    from ebsd_env.replay.multi import MANIFEST, MultiReplayEnv, MultiTraceSet
    from ebsd_env.replay.record import record_multi
    from ebsd_env.replay.trace import TraceSet
    from ebsd_env.timing.cost_model import CostModel

    costs = CostModel(draft_s=0.25, verify_points=((1, 1.0), (2, 1.125), (9, 2.0)), source="toy")
    drafters = [noisy_pair.drafter, derive_drafter(noisy_pair.verifier, "ngram")]
    rows = [{"id": "p0", "category": "chat", "prompt": "hello world, hello world"}]
    pair = multi_pair(noisy_pair, drafters, ["feature", "ngram"])
    record_multi(pair, rows, tmp_path, max_draft_len=3, max_new_tokens=6, calibrate_clock=False, progress=False)
    assert [e["name"] for e in json.loads((tmp_path / MANIFEST).read_text())["drafters"]] == ["feature", "ngram"]
    multi = MultiTraceSet.load(tmp_path)
    assert multi.names == ["feature-v2", "ngram"]
    env = MultiReplayEnv(multi, cost_model=[costs, costs])
    fingerprint = env_fingerprint(env)
    assert fingerprint["multi"]["drafters"] == ["feature-v2", "ngram"]
    assert fingerprint["pair"]["drafter"] == "feature-v2+ngram"

    live = gym.make("EBSD-Multi-v1", pair=pair, prompts=rows, max_new_tokens=6, clock="model",
                    cost_model=[costs, costs])  # a pair made by hand under the old name
    assert env_fingerprint(live)["multi"]["drafters"] == ["feature-v2", "ngram"]

    single = TraceSet.load(tmp_path / json.loads((tmp_path / MANIFEST).read_text())["drafters"][1]["folder"])
    single.fingerprint["drafter"] = "distilled"  # as the verdict's traces were recorded
    assert env_fingerprint(ReplayEnv(single, cost_model=costs))["pair"]["drafter"] == "feature-v1"
