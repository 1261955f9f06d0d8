"""A supervised acceptance predictor (SpecDec++'s stopping rule) trained from logged rollouts.

The model is a logistic regression on the env's observation vector: P(draft token t is accepted | the tokens
before it in the block were accepted). SpecDec++ (Huang et al., arXiv 2405.19715, COLM 2025) shows that
the optimal stop is a threshold on the probability that the block holds at least one rejection,
1 - prod_t P(accept_t); the `acceptance` policy stops when that passes its threshold.

Fit one from the command line (rollouts of a logging policy on a prompt suite, then the fit):
``python -m policies.acceptance --pair tiny-noisy --out runs/acceptance.json``.

Training data: the per-step traces of `policies.rollout.run_episode` (observations, positions and, per
block, how many tokens the verifier accepted). A step is a positive example if its position <= the block's
accepted count, a negative one if it is the first rejected token; later tokens are left out (their label is
conditioned on an earlier rejection). Fitted by Newton's method (IRLS) with an L2 penalty, numpy only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import tyro

from ebsd_env.cli.args import PairArgs, PromptArgs, parse
from ebsd_env.envs.observation import ObservationLayout
from ebsd_env.io import read_json, write_json_atomic


@dataclass
class AcceptanceModel:
    """Logistic acceptance model over one observation layout."""

    weights: list[float]
    bias: float
    layout: dict  # the ObservationLayout fields the model was trained on
    samples: int = 0
    positive_rate: float = float("nan")
    # The env the rollouts came from (`ebsd_env.fingerprint`): `ebsd fit-acceptance` sets it, and
    # `acceptance:` refuses an env of another pair, layout, stop mode or draft bounds.
    fingerprint: dict | None = None

    def prob(self, obs: np.ndarray) -> float:
        z = float(np.dot(self.weights, np.asarray(obs, dtype=np.float64).reshape(-1))) + self.bias
        return float(1.0 / (1.0 + np.exp(-z)))

    def check_layout(self, layout: ObservationLayout) -> None:
        # Models saved before the observation and cost-signal options were given them as defaults.
        if asdict(layout) != {"observation": "entropy", "cost_signals": False, **self.layout}:
            raise ValueError(f"the acceptance model was trained on observation layout {self.layout}, but the env "
                             f"uses {asdict(layout)}: make the env with the same history, max_draft_len, "
                             "max_new_tokens, entropy and extra_signals, or re-fit on rollouts from this env")

    def save(self, path: str | Path) -> Path:
        """Write the model as JSON, atomically (temporary file, then rename)."""
        return write_json_atomic(path, asdict(self), indent=1)

    @classmethod
    def load(cls, path: str | Path) -> AcceptanceModel:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"no acceptance model at {path}: fit one with policies.acceptance.fit(rollouts) and "
                             "save it with model.save(path)")
        data = read_json(path, "acceptance model", "fit one again with `ebsd fit-acceptance --out`")
        try:
            return cls(**data)
        except TypeError as error:
            raise ValueError(f"acceptance model {str(path)!r} is not one `ebsd fit-acceptance` wrote ({error}): fit "
                             "one again with `ebsd fit-acceptance --out`") from None


def examples(rollouts: list[dict]) -> tuple[np.ndarray, np.ndarray, dict]:
    """(features, labels, layout) from `run_episode` results."""
    features, labels, layout = [], [], None
    for rollout in rollouts:
        if "trace" not in rollout or "observations" not in rollout["trace"]:
            raise ValueError("each rollout must be a policies.rollout.run_episode result with a 'trace' "
                             "(no-spec episodes have none: log rollouts with a drafting policy)")
        trace = rollout["trace"]
        if layout is None:
            layout = trace["layout"]
        elif trace["layout"] != layout:
            raise ValueError("the rollouts come from envs with different observation layouts; fit one model per "
                             "layout")
        steps = zip(trace["observations"], trace["positions"], trace["block_accepted"], strict=True)
        for obs, position, accepted in steps:
            if accepted is None or position > accepted + 1:
                continue
            features.append(obs)
            labels.append(1.0 if position <= accepted else 0.0)
    if not features:
        raise ValueError("the rollouts hold no verified draft steps to learn from")
    return np.asarray(features, dtype=np.float64), np.asarray(labels), layout


def fit(rollouts: list[dict], l2: float = 1e-2, iterations: int = 100) -> AcceptanceModel:
    """Fit the logistic acceptance model on logged rollouts (see the module docstring)."""
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, got {l2}")
    x, y, layout = examples(rollouts)
    if y.min() == y.max():
        raise ValueError(f"all {len(y)} logged draft tokens have the same label ({'accepted' if y[0] else 'rejected'})"
                         ": log rollouts where the verifier both accepts and rejects (another pair or policy)")
    x1 = np.hstack([x, np.ones((len(x), 1))])
    penalty = np.full(x1.shape[1], l2)
    penalty[-1] = 0.0  # the bias is not penalised
    w = np.zeros(x1.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-x1 @ w))
        gradient = x1.T @ (p - y) + penalty * w
        hessian = (x1 * (p * (1 - p))[:, None]).T @ x1 + np.diag(penalty) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.max(np.abs(step)) < 1e-9:
            break
    return AcceptanceModel(weights=[float(v) for v in w[:-1]], bias=float(w[-1]), layout=layout, samples=len(y),
                           positive_rate=float(y.mean()))


@dataclass
class FitConfig(PairArgs, PromptArgs):
    """Log rollouts of a drafting policy on EBSD-Deterministic-v1 and fit the acceptance model on them."""

    out: str = "runs/acceptance.json"
    """Where to write the model (JSON, atomically)."""
    policy: str = "fixed-k:k=16"
    """The logging policy: a long fixed draft shows the model late positions too."""
    limit_per_category: Annotated[int | None, tyro.conf.arg(name="prompts-per-category")] = 4
    """Prompts per category."""
    seeds: Annotated[int, tyro.conf.arg(name="episodes-per-prompt")] = 1
    """Episodes per prompt (different sampler seeds; only matters with temperature > 0)."""
    max_new_tokens: int = 64
    """Token budget per episode."""
    max_draft_len: int = 16
    """The env's longest draft (part of the observation layout the model is tied to)."""
    history: int = 8
    """Entropies per observation (part of the layout)."""
    entropy: str = "shannon"
    """Entropy measure (part of the layout)."""
    extra_signals: bool = False
    """Include top-1 probability, margin and progress in the observation (part of the layout)."""
    temperature: float = 0.0
    """0 = greedy verification, > 0 = speculative sampling."""
    l2: float = 1e-2
    """L2 penalty of the logistic regression."""


def validate(config: FitConfig) -> None:
    """Every check that needs no model (the rollouts take minutes): refused before the pair loads."""
    import math

    from ebsd_env.cli.args import check_model_args
    from ebsd_env.decoding.entropy import EntropyConfig
    from ebsd_env.io import check_file_path

    from .base import make_policy

    check_model_args(config)
    for flag, value in (("--episodes-per-prompt", config.seeds), ("--max-new-tokens", config.max_new_tokens),
                        ("--max-draft-len", config.max_draft_len), ("--history", config.history)):
        if value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")
    if config.limit_per_category is not None and config.limit_per_category < 1:
        raise ValueError(f"--prompts-per-category must be >= 1 (or None for all), got {config.limit_per_category}")
    if not (math.isfinite(config.l2) and config.l2 >= 0):
        raise ValueError(f"--l2 must be a finite number >= 0 (the logistic regression's penalty), got {config.l2}")
    if not (math.isfinite(config.temperature) and config.temperature >= 0):
        raise ValueError(f"--temperature must be a finite number >= 0 (0 = greedy), got {config.temperature}")
    try:
        EntropyConfig(config.entropy)
    except ValueError as error:
        raise ValueError(f"--entropy: {error}") from None
    try:
        policy = make_policy(config.policy)
    except ValueError as error:
        raise ValueError(f"--policy {config.policy!r}: {error}") from None
    if policy.spec == "no-spec" or (policy.name == "fixed-k" and policy.k == 0):
        raise ValueError(f"--policy {config.policy!r} does not draft: log rollouts with a drafting policy")
    check_file_path(config.out, "--out")


def main(argv: list[str] | None = None) -> int:
    config = parse(FitConfig, argv, "fit-acceptance", prog="ebsd fit-acceptance")  # first: --help imports no torch
    validate(config)
    import gymnasium as gym
    from tqdm import tqdm

    import ebsd_env  # noqa: F401  (registers the env ids)
    from ebsd_env.cli.args import load_pair_from_args
    from ebsd_env.decoding.kernels import configure_threads
    from ebsd_env.fingerprint import env_fingerprint
    from ebsd_env.prompts import load_prompts

    from .base import make_policy
    from .rollout import run_episode

    configure_threads(config.threads)
    prompts = load_prompts(config.prompt_source, categories=config.categories,  # read (or refused) before the pair
                           limit_per_category=config.limit_per_category, seed=config.prompt_seed)
    pair = load_pair_from_args(config, tiny_context=4096)  # a tiny pair is character-level: long prompts
    stop_mode = make_policy(config.policy).stop_mode  # the logging policy's own mode, if its source has one
    env = gym.make("EBSD-Deterministic-v1", pair=pair, prompts=prompts, max_new_tokens=config.max_new_tokens,
                   max_draft_len=config.max_draft_len, history=config.history, entropy=config.entropy,
                   extra_signals=config.extra_signals, temperature=config.temperature,
                   **({"stop_mode": stop_mode} if stop_mode else {}))
    policy = make_policy(config.policy, env=env)
    if policy.spec == "no-spec" or (policy.name == "fixed-k" and policy.k == 0):
        raise ValueError(f"--policy {config.policy!r} does not draft: log rollouts with a drafting policy")
    runs = [(seed, index) for seed in range(config.seeds) for index in range(len(prompts))]
    rollouts = [run_episode(env, policy, seed=seed, options={"prompt_index": index})
                for seed, index in tqdm(runs, desc=f"rollouts of {policy.spec}")]
    model = fit(rollouts, l2=config.l2)
    model.fingerprint = env_fingerprint(env)
    model.save(config.out)
    print(f"fitted on {model.samples} draft tokens (accepted share {model.positive_rate:.3f}); wrote {config.out}\n"
          f"use it as: acceptance:path={config.out},threshold=0.5")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
