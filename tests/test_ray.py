"""Ray backends on a local Ray instance started here (`ray.init(num_cpus=2)`): `ebsd record --ray` writes the
single-process shards byte for byte, `ebsd tune --backend ray` finds the single-process sweep's best trial and
resumes a killed sweep, `ebsd train ppo --sweep` runs PPO configs as trials; without ray, one line."""

from __future__ import annotations

import builtins
import json
from functools import partial

import pytest

from ebsd_env.ray_support import RAY_MISSING, require_ray
from ebsd_env.replay.record import record
from ebsd_env.tiny import tiny_pair

PROMPTS = [
    {"id": "a1", "category": "alpha", "prompt": "the cat sat on the mat"},
    {"id": "a2", "category": "alpha", "prompt": "one two three four"},
    {"id": "b1", "category": "beta", "prompt": "what is two plus two?"},
    {"id": "b2", "category": "beta", "prompt": "hello world, how are you"},
]
RECORD = dict(max_draft_len=6, max_new_tokens=24, shard_size=2, progress=False, calibrate_clock=False)


def test_missing_ray_is_one_line(monkeypatch):
    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ValueError, match=r"^Ray is not installed: pip install 'ebsd-gym\[ray\]'$"):
        require_ray()
    assert RAY_MISSING.count("\n") == 0


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_recording_equals_the_single_process_shards(ray_session, noisy_pair, tmp_path):
    from ebsd_env.replay.ray_record import RayRecordOptions

    single, shards = tmp_path / "single", tmp_path / "ray"
    record(noisy_pair, PROMPTS, single, **RECORD)
    options = RayRecordOptions(load_pair=partial(tiny_pair, "noisy", noise=0.1), threads=1)
    summary = record(noisy_pair, PROMPTS, shards, ray=options, **RECORD)
    assert summary["recorded_shards"] == 2 and summary["recorded_prompts"] == 4
    names = sorted(p.name for p in single.iterdir())
    assert names == sorted(p.name for p in shards.iterdir()) == ["manifest.json", "shard-00000.parquet",
                                                                  "shard-00001.parquet"]
    for name in names:
        assert (single / name).read_bytes() == (shards / name).read_bytes(), name
    # A resumed run records only what is missing.
    (shards / "shard-00001.parquet").unlink()
    again = record(noisy_pair, PROMPTS, shards, ray=options, **RECORD)
    assert again["recorded_shards"] == 1 and again["recorded_prompts"] == 2
    assert (single / "shard-00001.parquet").read_bytes() == (shards / "shard-00001.parquet").read_bytes()
