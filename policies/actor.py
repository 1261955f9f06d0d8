"""A trained PPO model's deterministic action without stable-baselines3's per-call overhead.

Every decision a stopping policy takes is charged to it (`EBSD-v1`'s ``decide_s``), and a decision comes after
each drafted token, so a policy's own compute matters beside a draft step of a few milliseconds. SB3's
``model.predict`` converts the observation to a tensor, switches the module to eval mode, builds a distribution
object and converts back: about 0.25 ms per call in a tight loop and ~0.45 ms with cold caches, as between
draft steps, for an actor of two 64-unit layers whose arithmetic takes microseconds.

`NumpyActor` holds the same weights as float32 arrays and computes the actor's logits with numpy, then takes
the most likely action, as SB3's ``deterministic=True`` does. Its logits differ from torch's by a few rounding
steps at most, which could only change the action at a near-tie; so wherever the best two logits are closer
than `TIE_MARGIN`, the caller asks SB3 instead (`PPOPolicy.predict`). The action is therefore SB3's own in
every case (tests compare them on random observations and force the near-tie path).

Only the structure `ebsd train ppo` produces is taken: an ``ActorCriticPolicy`` with a flatten feature
extractor over a 1-D Box observation, a Discrete action space, and an actor MLP of `nn.Linear` layers with
Tanh / ReLU activations. For anything else `from_model` returns None and SB3 runs every decision.
"""

from __future__ import annotations

import numpy as np

# Logits within this of the best one: the action is SB3's. numpy's float32 logits of a 64-unit actor differ
# from torch's by ~1e-6; 1e-3 leaves three orders of magnitude of room.
TIE_MARGIN = 1e-3


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, np.float32(0.0))


_ACTIVATIONS = {"Tanh": np.tanh, "ReLU": _relu}  # module-level functions: a policy sent to a Ray worker pickles


class NumpyActor:
    """The deterministic action of an SB3 ``ActorCriticPolicy``'s actor, computed with numpy (see the module)."""

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray, object]], head: tuple[np.ndarray, np.ndarray]):
        self.layers = layers  # (weight [in, out], bias [out], activation or None) per Linear layer
        self.head = head
        self.inputs = layers[0][0].shape[0] if layers else head[0].shape[0]

    @classmethod
    def from_model(cls, model) -> NumpyActor | None:
        """The actor of `model` (a stable-baselines3 PPO), or None if its structure is not the supported one."""
        from gymnasium import spaces
        from stable_baselines3.common.policies import ActorCriticPolicy
        from stable_baselines3.common.torch_layers import FlattenExtractor
        from torch import nn

        policy = model.policy
        if (type(policy) is not ActorCriticPolicy or not isinstance(model.action_space, spaces.Discrete)
                or not isinstance(model.observation_space, spaces.Box) or len(model.observation_space.shape) != 1
                or not isinstance(policy.pi_features_extractor, FlattenExtractor)
                or not isinstance(policy.action_net, nn.Linear)):
            return None
        layers: list = []
        for module in policy.mlp_extractor.policy_net:
            if isinstance(module, nn.Linear):
                layers.append((_array(module.weight).T.copy(), _array(module.bias), None))
            elif type(module).__name__ in _ACTIVATIONS and layers and layers[-1][2] is None:
                weight, bias, _ = layers[-1]
                layers[-1] = (weight, bias, _ACTIVATIONS[type(module).__name__])
            else:  # another activation, dropout, normalisation, two activations in a row: SB3 runs it
                return None
        head = (_array(policy.action_net.weight).T.copy(), _array(policy.action_net.bias))
        actor = cls(layers, head)
        return actor if actor.inputs == model.observation_space.shape[0] else None

    def logits(self, observations: np.ndarray) -> np.ndarray:
        """The actor's logits of an [inputs] or [batch, inputs] float32 array."""
        x = observations
        for weight, bias, activation in self.layers:
            x = x @ weight + bias
            if activation is not None:
                x = activation(x)
        return x @ self.head[0] + self.head[1]

    def act(self, observation) -> np.ndarray | None:
        """The most likely action of each row of `observation` (a 1-D observation: one int64 scalar), or None
        where SB3 must decide: an observation of another shape, or a near-tie (`TIE_MARGIN`)."""
        obs = np.asarray(observation, dtype=np.float32)
        if obs.ndim == 1:  # the env's case, kept lean: 1-D products and no partition (half the time between steps)
            if obs.shape[0] != self.inputs:
                return None
            logits = self.logits(obs)
            best = int(logits.argmax())
            top, logits[best] = logits[best], -np.inf
            # Written so that a NaN fails it too.
            return np.int64(best) if top - logits.max() >= TIE_MARGIN else None
        if obs.ndim != 2 or obs.shape[1] != self.inputs:
            return None
        logits = self.logits(obs)
        if logits.shape[1] > 1:
            top2 = np.partition(logits, -2, axis=1)[:, -2:]
            if not (top2[:, 1] - top2[:, 0] >= TIE_MARGIN).all():
                return None
        return logits.argmax(axis=1).astype(np.int64)


def _array(parameter) -> np.ndarray:
    return parameter.detach().cpu().float().numpy().copy()
