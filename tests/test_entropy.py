"""Entropy measures against float64 reference formulas, including their limits."""

import math

import numpy as np
import pytest
import torch

from ebsd_env.decoding import entropy as E


def _probs(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(-1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(-1, keepdims=True)


@pytest.fixture
def logits():
    return np.random.default_rng(0).normal(scale=3.0, size=(4, 7, 50))


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_shannon_matches_reference(logits, temperature):
    p = _probs(logits, temperature)
    ref = -(p * np.log(p)).sum(-1)
    got = E.shannon(torch.tensor(logits, dtype=torch.float64), temperature).double().numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    assert got.shape == (4, 7)


@pytest.mark.parametrize("alpha", [0.5, 2.0, 3.0])
def test_renyi_matches_reference(logits, alpha):
    p = _probs(logits)
    ref = np.log((p**alpha).sum(-1)) / (1 - alpha)
    np.testing.assert_allclose(E.renyi(torch.tensor(logits), alpha).numpy(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("q", [0.5, 2.0, 3.0])
def test_tsallis_matches_reference(logits, q):
    p = _probs(logits)
    ref = (1 - (p**q).sum(-1)) / (q - 1)
    np.testing.assert_allclose(E.tsallis(torch.tensor(logits), q).numpy(), ref, rtol=1e-5, atol=1e-5)


def test_topk_is_shannon_of_renormalised_top_tokens(logits):
    k = 5
    top = np.sort(logits, -1)[..., -k:]
    p = _probs(top)
    ref = -(p * np.log(p)).sum(-1)
    np.testing.assert_allclose(E.topk(torch.tensor(logits), k).numpy(), ref, rtol=1e-5, atol=1e-6)


def test_renyi_and_tsallis_tend_to_shannon(logits):
    x = torch.tensor(logits)
    h = E.shannon(x)
    for eps in (1e-2, 1e-3):
        for order in (1 - eps, 1 + eps):
            assert torch.allclose(E.renyi(x, order), h, atol=20 * eps)
            assert torch.allclose(E.tsallis(x, order), h, atol=20 * eps)
    assert torch.equal(E.renyi(x, 1.0), h) and torch.equal(E.tsallis(x, 1.0), h)


def test_uniform_reaches_log_vocab_and_max_entropy():
    v = 49152
    uniform = torch.zeros(v)
    for measure, param in [("shannon", None), ("renyi", 2.0), ("tsallis", 2.0), ("topk", 10)]:
        config = E.EntropyConfig(measure, param)
        assert float(config(uniform)) == pytest.approx(config.max_value(v), rel=1e-5)
    assert float(E.shannon(uniform)) == pytest.approx(math.log(v), rel=1e-6)


def test_peaked_distribution_is_finite_and_near_zero():
    logits = torch.full((1000,), -1e4)
    logits[3] = 1e4  # every other probability underflows to exactly 0
    for fn in (E.shannon, E.renyi, E.tsallis, E.topk):
        value = float(fn(logits))
        assert math.isfinite(value) and abs(value) < 1e-6


def test_float16_input_is_computed_in_float32():
    logits = torch.randn(3, 100).half()
    assert E.shannon(logits).dtype == torch.float32


def test_invalid_configurations_are_refused():
    with pytest.raises(ValueError, match="valid: shannon"):
        E.EntropyConfig("gini")
    with pytest.raises(ValueError, match="temperature"):
        E.EntropyConfig("shannon", temperature=0)
    with pytest.raises(ValueError, match="k >= 1"):
        E.topk(torch.zeros(4), 0)
    with pytest.raises(ValueError, match=">= 0"):
        E.EntropyConfig("renyi", -1.0)
