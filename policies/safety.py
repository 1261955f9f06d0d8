"""`safe`: a safety net any stopping policy can wear, so that speculation is never much slower than the verifier.

A policy trained or tuned on one machine, drafter or kind of text can lose to the verifier alone on another
(issue 23: 0.71x for a shipped PPO model on another CPU). The wrapper measures both rates on the prompt at hand,
from what the env tells every policy after a verification (``emitted``, ``draft_time_s``, ``verify_time_s``):

- the verifier-alone rate, from occasional k = 0 blocks it plays itself (a stop at the empty draft);
- the wrapped policy's own rate, from the blocks it drives.

Each is a ratio of decayed sums (tokens over seconds, each sum multiplied by `decay` per new block of its kind),
so it follows the current prompt. When the verifier alone is faster than the wrapped policy by more than
`margin`, the wrapper falls back to k = 0 and lets the wrapped policy drive one block in `reprobe_every` to see
whether speculation wins again; each re-probe that still loses doubles that interval (up to `reprobe_max`), so
a drafter that is always wrong costs little, and a new episode (a new prompt) starts again at `reprobe_every`.
While speculating it plays one k = 0 probe block in `probe_every`.
"""

from __future__ import annotations

from ebsd_env.envs.objective import arm_value

from .base import SPECS, STOP, Param, Policy
from .learned import block_work

SPECULATE, PROBE = "speculate", "probe"  # who drives a block: the wrapped policy, or a k = 0 probe


class SafetyNet(Policy):
    """Wear any policy: fall back to the verifier alone (k = 0) when the policy's measured rate on this prompt
    loses to it, re-probing speculation every `reprobe_every` blocks.

    Rates are tokens over clock seconds of the env's info after each verification (the same signal the bandits
    learn from, `policies.learned.block_work`); both estimates persist across episodes, decayed per block, like
    the bandits' statistics. The first block is a k = 0 probe. Fallback needs `min_blocks` blocks of the wrapped
    policy. Defaults probe_every=16, reprobe_every=8, reprobe_max=64, margin=0.02, decay=0.8, min_blocks=3.
    """

    name = "safe"
    description = "safety net over a policy: k = 0 when the verifier alone is faster on this prompt (re-probes)"
    params = (Param("inner", SPECS, "[fixed-k:k=4]", "the wrapped policy, in brackets: safe:inner=[svip]"),
              Param("probe_every", int, 16, "while speculating, one k = 0 probe block in this many", low=2),
              Param("reprobe_every", int, 8, "while fallen back, one block of the wrapped policy in this many",
                    low=2),
              Param("reprobe_max", int, 64, "the re-probe interval doubles while re-probes lose, up to this",
                    low=2),
              Param("margin", float, 0.02, "fall back when verifier-alone rate > (1 + margin) x the policy's",
                    low=0.0),
              Param("decay", float, 0.8, "weight kept by the older blocks of each rate estimate per new block",
                    low=0.0, high=1.0),
              Param("min_blocks", int, 3, "blocks of the wrapped policy seen before a fallback", low=1))
    block_state = True

    def validate(self):
        if self.reprobe_max < self.reprobe_every:
            raise ValueError(f"safe: reprobe_max={self.reprobe_max} < reprobe_every={self.reprobe_every}; need "
                             "reprobe_max >= reprobe_every")
        if len(self.inner) != 1:
            raise ValueError(f"safe: wraps exactly one policy, got {len(self.inner)}; e.g. "
                             "safe:inner=[entropy-abs:theta=1.0]")
        self.policy = self.inner[0]
        for flag in ("requires_extra_signals", "reads_entropy", "reads_token_signals", "privileged", "stop_mode"):
            setattr(self, flag, getattr(self.policy, flag))
        # Decayed (tokens, seconds) of each driver's blocks, and how many blocks each has driven.
        self.tokens = {SPECULATE: 0.0, PROBE: 0.0}
        self.seconds = {SPECULATE: 0.0, PROBE: 0.0}
        self.blocks = {SPECULATE: 0, PROBE: 0}
        self.fallen_back = False
        self.since_switch = 0  # blocks since the last probe (speculating) or re-probe (fallen back)
        self.driver = PROBE
        self.reprobe_interval = self.reprobe_every

    def bind(self, env=None, layout=None, stop_mode=None):
        self.policy.bind(env=env, layout=layout, stop_mode=stop_mode)
        return super().bind(env=env, layout=layout, stop_mode=stop_mode)

    def env_requirements(self) -> dict:
        return self.policy.env_requirements()

    def reset(self):
        super().reset()
        if hasattr(self, "policy"):
            self.policy.reset()
            self.reprobe_interval = self.reprobe_every  # a new prompt: speculation may win on it

    def rate(self, driver: str) -> float:
        """Tokens per second of `driver`'s recent blocks (nan before its first)."""
        return arm_value(self.tokens[driver], self.seconds[driver]) if self.blocks[driver] else float("nan")

    def losing(self) -> bool:
        """Is the verifier alone faster than the wrapped policy, beyond the margin, on the evidence so far?"""
        if not self.blocks[PROBE] or self.blocks[SPECULATE] < self.min_blocks:
            return False
        return self.rate(PROBE) > (1.0 + self.margin) * self.rate(SPECULATE)

    def start_block(self):
        if not self.blocks[PROBE]:
            self.driver = PROBE  # no verifier-alone estimate yet: measure it first
            return
        self.since_switch += 1
        every = self.reprobe_interval if self.fallen_back else self.probe_every
        regular, occasional = (PROBE, SPECULATE) if self.fallen_back else (SPECULATE, PROBE)
        if self.since_switch >= every:
            self.since_switch = 0
            self.driver = occasional
        else:
            self.driver = regular

    def stop_at_empty(self, view, obs):
        return self.driver == PROBE or self.policy.act(obs) == STOP

    def decide(self, view, obs):
        return self.policy.act(obs) == STOP

    def on_verify(self, info):
        tokens, seconds = block_work(info)
        driver = self.driver
        self.tokens[driver] = self.decay * self.tokens[driver] + tokens
        self.seconds[driver] = self.decay * self.seconds[driver] + seconds
        self.blocks[driver] += 1
        if driver == SPECULATE:
            self.policy.on_verify(info)  # the wrapped policy learns from its own blocks only
        losing = self.losing()
        if losing and self.fallen_back and driver == SPECULATE:  # a re-probe lost again: re-probe less often
            self.reprobe_interval = min(2 * self.reprobe_interval, self.reprobe_max)
        if losing != self.fallen_back:
            self.fallen_back, self.since_switch = losing, 0
            self.reprobe_interval = self.reprobe_every
