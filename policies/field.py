"""The field's published stop rules, with their sources' defaults.

Each class docstring names its source (paper and code path). Rules on the drafter's probabilities need the env's
extra signals (``extra_signals=True``). transformers' confidence criteria read the probability of the token the
drafter emitted (`token_prob`); Kangaroo, Draft & Verify and llama.cpp read the top-1 probability. Under greedy
decoding the two agree.

Stop modes (`EBSD-v1`, see `ebsd_env.envs.ebsd`): each rule runs in its source's mode.

| rule | mode | why |
|---|---|---|
| hf-confidence, hf-confidence-roc, hf-heuristic | include | transformers checks a token once it is a candidate |
| svip | exclude | SVIP computes the entropy of the next-token distribution and stops before sampling from it |
| adaedl-like | exclude | same family as SVIP (a bound on the next token's acceptance) |
| llamacpp | exclude | `common/speculative.cpp` checks `p_min` before it appends the token |
| draft-verify, kangaroo | include | their released loops append the drafted token, then test its confidence |

Every rule's `min` defaults to 0 (a stop may verify an empty draft, k = 0) unless its source sets one.
"""

from __future__ import annotations

import math

import numpy as np

from .base import Param, Policy, bounds_params, latest


def _block_ratio(info: dict) -> float | None:
    drafted = int(info["drafted"])
    return int(info["accepted"]) / drafted if drafted else None


class HFConfidence(Policy):
    """transformers' assistant confidence threshold: stop when the drafter's probability p < threshold.

    Source: transformers `ConfidenceCriteria` (generation/stopping_criteria.py): the probability of the token
    the assistant emitted, against `assistant_confidence_threshold` 0.4, with `num_assistant_tokens` 20 (defaults
    since v4.45, PRs #33258 and #33657). Include mode. Defaults threshold=0.4, min=0, max=20.
    """

    name = "hf-confidence"
    description = "transformers: stop when the draft token's probability < threshold (0.4, max 20)"
    params = (Param("threshold", float, 0.4, "probability threshold", low=0.0, high=1.0),
              *bounds_params(max_default=20, source="num_assistant_tokens"))
    requires_extra_signals = True
    stop_mode = "include"

    def decide(self, view, obs):
        return view.token_prob < self.threshold


def roc_threshold(matches: list[int], probs: list[float], fn_weight: float) -> float:
    """argmin over ROC thresholds of fpr + fn_weight * fnr (transformers' adaptive rule, sklearn-free).

    Thresholds are the distinct scores in decreasing order after +inf, as `sklearn.metrics.roc_curve` gives
    them (without dropping collinear points, which can only change ties); "accepted" is predicted at p >= t.
    """
    y = np.asarray(matches, dtype=bool)
    s = np.asarray(probs, dtype=np.float64)
    thresholds = np.concatenate([[np.inf], np.unique(s)[::-1]])
    pos, neg = np.sort(s[y]), np.sort(s[~y])
    tpr = (len(pos) - np.searchsorted(pos, thresholds, side="left")) / len(pos)
    fpr = (len(neg) - np.searchsorted(neg, thresholds, side="left")) / len(neg)
    return float(thresholds[int(np.argmin(fpr + fn_weight * (1.0 - tpr)))])


class HFConfidenceROC(Policy):
    """transformers' adaptive confidence threshold ("adaptive DISCO", PR #34156).

    Stops like `hf-confidence`; after each verification it labels the block's draft probabilities (1 for
    accepted tokens, 0 for the first rejected one; later tokens are dropped) and, once more than `min_samples`
    samples hold both labels, sets the threshold to the ROC point minimising fpr + 3 * fnr. Source:
    transformers `AssistedCandidateGenerator.update_candidate_strategy` (generation/candidate_generator.py). The
    samples persist across episodes, as transformers keeps them on the generator. Include mode. Defaults
    threshold=0.4 (initial), fn_weight=3, min_samples=5, min=0, max=20.
    """

    name = "hf-confidence-roc"
    description = "transformers: confidence threshold re-fit online at the ROC argmin of fpr + 3*fnr"
    params = (Param("threshold", float, 0.4, "initial probability threshold", low=0.0, high=1.0),
              Param("fn_weight", float, 3.0, "weight of false negatives in the cost fpr + w*fnr", low=0.0),
              Param("min_samples", int, 5, "re-fit once more than this many samples exist", low=1),
              *bounds_params(max_default=20, source="num_assistant_tokens"))
    requires_extra_signals = True
    block_state = True
    stop_mode = "include"

    def validate(self):
        self.current = self.threshold
        self.probs: list[float] = []
        self.matches: list[int] = []
        self._block: dict[int, float] = {}

    def start_block(self):
        self._block = {}

    def decide(self, view, obs):
        self._block[view.position] = view.token_prob
        return view.token_prob < self.current

    def on_verify(self, info):
        accepted, drafted = int(info["accepted"]), int(info["drafted"])
        for position in sorted(self._block):
            if position <= min(accepted + 1, drafted):
                self.probs.append(self._block[position])
                self.matches.append(int(position <= accepted))
        self._block = {}
        if len(self.probs) > self.min_samples and 0 < sum(self.matches) < len(self.matches):
            self.current = roc_threshold(self.matches, self.probs, self.fn_weight)


class HFHeuristic(Policy):
    """transformers' `heuristic` schedule: draft k tokens; k += 2 after a fully accepted block, else k -= 1.

    Source: transformers `AssistedCandidateGenerator.update_candidate_strategy`, the original 2023 design
    (Hugging Face blog `assisted-generation.md`: "initialized to 5"). persist=1 is "heuristic" (k survives
    episode resets, as transformers writes it back into the assistant's config), persist=0 is
    "heuristic_transient" (k restarts at `k` each episode). transformers leaves k unbounded; here k stays in
    [1, max] (max 40, the cap SVIP's repository gives this baseline) so the env's clamp cannot hide a runaway
    counter. Include mode. Defaults k=5, persist=1, max=40.
    """

    name = "hf-heuristic"
    description = "transformers 'heuristic': k += 2 after a fully accepted draft, k -= 1 otherwise (k0 = 5)"
    params = (Param("k", int, 5, "initial draft length", low=1),
              Param("persist", int, 1, "1: k persists across episodes ('heuristic'); 0: 'heuristic_transient'",
                    low=0, high=1),
              Param("max", int, 40, "largest draft length (SVIP's cap for this baseline)", low=1))
    stop_mode = "include"

    def validate(self):
        self.current = min(self.k, self.max)

    def reset(self):
        super().reset()
        if not self.persist:
            self.current = min(self.k, self.max)

    def decide(self, view, obs):
        return view.position >= self.current

    def on_verify(self, info):
        if int(info["accepted"]) == int(info["drafted"]):
            self.current = min(self.current + 2, self.max)
        else:
            self.current = max(1, self.current - 1)


class SVIP(Policy):
    """SVIP: stop when sqrt(gamma * H_t) > theta, H_t the drafter's entropy in nats.

    Source: Zhang et al., "Draft Model Knows When to Stop", arXiv 2411.18462 (EMNLP 2025); code
    `Geralt-Targaryen/SVIP:vanilla-sd/eval_specbench.py`. SVIP uses Shannon entropy: run the env with
    entropy="shannon" (its default) to match. Exclude mode: the entropy is that of the next-token distribution,
    and an uncertain token is never drafted. Defaults gamma=0.15, theta=0.3, min=0, max=40.
    """

    name = "svip"
    description = "SVIP: stop when sqrt(0.15 * H) > 0.3 (H in nats), cap 40"
    params = (Param("gamma", float, 0.15, "entropy scale", low=0.0),
              Param("theta", float, 0.3, "threshold on sqrt(gamma * H)", low=0.0),
              *bounds_params(max_default=40, source="SVIP's cap"))
    stop_mode = "exclude"

    def decide(self, view, obs):
        h = latest(view.entropies)
        return h is not None and math.sqrt(self.gamma * max(h, 0.0)) > self.theta


class AdaEDLLike(Policy):
    """An AdaEDL-LIKE rule: stop when 1 - sqrt(gamma * H_t) < lam, with lam adapted online.

    AdaEDL (Agrawal et al., arXiv 2410.18351) stops drafting when an entropy-based lower bound on the next
    token's acceptance probability falls below a threshold that adapts. Its exact bound, gamma and adaptation
    rule could not be checked against the paper's text or code here (no code is public), so this rule is named
    `adaedl-like`: the bound's form 1 - sqrt(gamma * H) and gamma = 0.2 follow secondary descriptions, and the
    adaptation is this project's own: after each block an EMA (beta) of the block's acceptance rate is compared
    with `target`; below it lam rises by `step` (stop earlier), above it lam falls; lam stays in [0, 1].
    adapt=0 keeps lam fixed (then the rule has SVIP's form: sqrt(0.15 H) > 0.3 is 1 - sqrt(0.15 H) < 0.7).
    Exclude mode, as SVIP. Defaults gamma=0.2, lam=0.7, target=0.8, step=0.01, beta=0.9, adapt=1, min=0, max=16.
    """

    name = "adaedl-like"
    description = "AdaEDL-like (unverified form): stop when 1 - sqrt(0.2 * H) < lam, lam adapted to acceptance"
    params = (Param("gamma", float, 0.2, "entropy scale", low=0.0),
              Param("lam", float, 0.7, "initial threshold on the acceptance lower bound", low=0.0, high=1.0),
              Param("target", float, 0.8, "acceptance rate lam adapts towards", low=0.0, high=1.0),
              Param("step", float, 0.01, "lam change per block", low=0.0),
              Param("beta", float, 0.9, "EMA weight of the past acceptance rate", low=0.0, high=1.0),
              Param("adapt", int, 1, "1: adapt lam online; 0: fixed", low=0, high=1),
              *bounds_params(max_default=16))
    stop_mode = "exclude"

    def validate(self):
        self.current = self.lam
        self.acceptance = self.target

    def decide(self, view, obs):
        h = latest(view.entropies)
        return h is not None and 1.0 - math.sqrt(self.gamma * max(h, 0.0)) < self.current

    def on_verify(self, info):
        ratio = _block_ratio(info)
        if not self.adapt or ratio is None:
            return
        self.acceptance = self.beta * self.acceptance + (1.0 - self.beta) * ratio
        delta = self.step if self.acceptance < self.target else -self.step
        self.current = min(max(self.current + delta, 0.0), 1.0)


class DraftVerify(Policy):
    """Draft & Verify's adaptive threshold: stop when top-1 p < th; th follows an EMA of block acceptance.

    Source: Zhang et al., arXiv 2309.08168; code `dilab-zju/self-speculative-decoding:decoding.py` with
    `auto_parameters=[1, 0.5, 0.9, 1e-2, 0.9]`. After each block: matchness = beta1 * matchness +
    (1 - beta1) * accepted/drafted; below `target` the candidate threshold is th + step, otherwise th - step
    (th unchanged when the draft hit max); then th = beta2 * th + (1 - beta2) * candidate. State persists
    across episodes. Include mode. Defaults threshold=0.8 (greedy; the source uses 0.5 for sampling),
    target=0.9, step=0.01, beta1=0.5, beta2=0.9, adapt=1, min=0, max=8.
    """

    name = "draft-verify"
    description = "Draft&Verify: stop when top-1 p < th (0.8), th moved by an EMA of acceptance (target 0.9)"
    params = (Param("threshold", float, 0.8, "initial top-1 threshold (0.5 for sampling in the source)",
                    low=0.0, high=1.0),
              Param("target", float, 0.9, "target matchness", low=0.0, high=1.0),
              Param("step", float, 0.01, "threshold step", low=0.0),
              Param("beta1", float, 0.5, "EMA weight of past matchness", low=0.0, high=1.0),
              Param("beta2", float, 0.9, "EMA weight of the past threshold", low=0.0, high=1.0),
              Param("adapt", int, 1, "1: adapt the threshold; 0: fixed", low=0, high=1),
              *bounds_params(max_default=8, source="max_step_draft"))
    requires_extra_signals = True
    stop_mode = "include"

    def validate(self):
        self.current = self.threshold
        self.matchness = 0.0

    def decide(self, view, obs):
        return view.top1_prob < self.current

    def on_verify(self, info):
        ratio = _block_ratio(info)
        if not self.adapt or ratio is None:
            return
        self.matchness = self.beta1 * self.matchness + (1.0 - self.beta1) * ratio
        if self.matchness < self.target:
            candidate = self.current + self.step
        elif int(info["drafted"]) >= self.max:
            candidate = self.current
        else:
            candidate = self.current - self.step
        self.current = self.beta2 * self.current + (1.0 - self.beta2) * candidate


class Kangaroo(HFConfidence):
    """Kangaroo: stop when the drafter's top-1 probability < 0.6, at most 6 draft tokens.

    Source: Liu et al., arXiv 2404.18911 (NeurIPS 2024); code `Equationliu/Kangaroo:evaluation/
    inference_kangaroo.py` (function default 0.6, CLI default 0.4, SPECULATIVE_DECODING_STEPS=6). Include mode.
    Defaults threshold=0.6, min=0, max=6.
    """

    name = "kangaroo"
    description = "Kangaroo: stop when top-1 p < 0.6, max 6"
    params = (Param("threshold", float, 0.6, "top-1 probability threshold", low=0.0, high=1.0),
              *bounds_params(max_default=6, source="SPECULATIVE_DECODING_STEPS"))
    # The extra-signal requirement and the mode are HFConfidence's; Kangaroo reads the top-1 probability.

    def decide(self, view, obs):
        return view.top1_prob < self.threshold


class LlamaCpp(Policy):
    """llama.cpp `--draft-p-min`: stop when the drafter's top-1 probability < p_min; `--draft-max` 16.

    Source: llama.cpp `common/speculative.cpp` and `common/common.h`, the era whose defaults were p_min 0.75, max
    16, min 0 (later versions changed them). Exclude mode: the loop tests `p_min` before it appends the token.
    llama.cpp discards drafts shorter than `--draft-min` instead of verifying them; here `min` is the minimum
    draft length a stop verifies. Defaults p_min=0.75, min=0, max=16.
    """

    name = "llamacpp"
    description = "llama.cpp --draft-p-min: stop before a token with top-1 p < 0.75, max 16"
    params = (Param("p_min", float, 0.75, "top-1 probability threshold", low=0.0, high=1.0),
              *bounds_params(max_default=16, source="--draft-max"))
    requires_extra_signals = True
    stop_mode = "exclude"

    def decide(self, view, obs):
        return view.top1_prob < self.p_min
