"""Shared fixtures: tiny config-built pairs (fast) and the embedded SmolLM2 pair (slow, loaded once)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never use the hub; unknown ids then fail at once

import pytest  # noqa: E402
import torch  # noqa: E402

from ebsd_env.decoding.tiny import tiny_pair  # noqa: E402

# One thread: tiny models gain nothing from two, and a second thread thrashes on a busy 2-core machine.
torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def _kernel_choices_in_a_temporary_cache(tmp_path_factory):
    """Kernel choices measured by tests go to a per-session file, not the user's cache."""
    from ebsd_env.decoding import kernels

    path = tmp_path_factory.mktemp("kernel-cache") / "kernels.json"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kernels, "kernel_cache_file", lambda: path)
        yield path


@pytest.fixture(scope="session")
def copy_pair():
    """Drafter identical to the verifier: every greedy draft token is accepted."""
    return tiny_pair("copy")


@pytest.fixture(scope="session")
def random_pair():
    """Unrelated drafter: most draft tokens are rejected."""
    return tiny_pair("random")


@pytest.fixture(scope="session")
def noisy_pair():
    """Perturbed copy: partial agreement with varying confidence."""
    return tiny_pair("noisy", noise=0.1)


@pytest.fixture(scope="session")
def embedded_pair():
    """The real embedded pair (SmolLM2-135M-Instruct verifier + default drafter), loaded once per session."""
    from ebsd_env.decoding.models import cached_pair

    return cached_pair()


@pytest.fixture(scope="session")
def feature_pair(tmp_path_factory):
    """Tiny verifier + a feature (EAGLE-style) drafter distilled from it for a second: partial agreement."""
    from ebsd_env.decoding.drafters import load_distilled_drafter
    from ebsd_env.decoding.models import ModelPair
    from train.drafter import distill

    run = tmp_path_factory.mktemp("feature-drafter")
    distill.main(["--tiny", "--out", str(run / "run"), "--steps", "80", "--heldout-per-category", "1",
                  "--max-new-tokens", "24", "--gen-batch-size", "4", "--batch-size", "4", "--eval-every", "80",
                  "--checkpoint-every", "80", "--learning-rate", "1e-2"])
    pair = tiny_pair("copy")
    drafter = load_distilled_drafter(pair.verifier, run / "run/export")
    return ModelPair(drafter, pair.verifier, pair.tokenizer, "tiny-feature", pair.verifier_name)


@pytest.fixture(scope="session")
def make_prompt_file():
    """Writes prompt rows as a .jsonl prompt source (the format `load_prompts` reads) and returns its path."""
    import json

    def write(folder, rows) -> str:
        path = folder / "prompts.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        return str(path)

    return write


@pytest.fixture(scope="session")
def run_policy():
    """Decodes prompt ids with a stopping policy (a spec or a `Policy`) through `EBSD-v1`, the one way a stop rule
    other than fixed k (`SpeculativeDecoder.generate(prompt, k)`) drives the decoder, on a toy model clock (no
    calibration). Returns the episodes' statistics (``output_ids``, ``draft_lengths``, ...), the first seeded."""
    from ebsd_env.envs.ebsd import EBSDEnv
    from ebsd_env.timing.cost_model import CostModel
    from policies.base import Policy
    from policies.registry import make_policy
    from policies.rollout import run_episode

    costs = CostModel(draft_s=0.025, verify_points=((1, 0.1), (2, 0.105), (9, 0.14), (17, 0.18)), source="toy")

    def run(pair, prompt_ids, policy, episodes: int = 1, seed: int = 0, **env_kwargs) -> list[dict]:
        row = {"id": "p", "category": "test", "prompt": pair.tokenizer.decode(prompt_ids), "prompt_ids": prompt_ids}
        env = EBSDEnv(pair, prompts=[row], clock="model", cost_model=costs, **env_kwargs)
        policy = policy if isinstance(policy, Policy) else make_policy(policy)
        return [run_episode(env, policy, seed=seed if i == 0 else None, options={"prompt_index": 0})
                for i in range(episodes)]

    return run


class EosEveryThirdPosition(torch.nn.Module):
    """Wraps a drafter: at every third sequence position it proposes EOS with near certainty (drafts end early)."""

    def __init__(self, inner, eos: int):
        super().__init__()
        self.inner, self.eos, self.config = inner, eos, inner.config

    def forward(self, input_ids, cache=None, use_cache=True, logits_to_keep=1):
        out = self.inner(input_ids=input_ids, cache=cache, use_cache=use_cache, logits_to_keep=logits_to_keep)
        if cache.get_seq_length() % 3 == 0:
            out.logits[..., self.eos] = 1e4
        return out


@pytest.fixture(scope="session")
def eos_every_third():
    """pair -> the same pair whose drafter proposes EOS at every third position (`EosEveryThirdPosition`)."""
    from ebsd_env.decoding.models import ModelPair

    def make(pair):
        return ModelPair(EosEveryThirdPosition(pair.drafter, pair.tokenizer.eos_token_id), pair.verifier,
                         pair.tokenizer, "eos-drafter", pair.verifier_name)
    return make
