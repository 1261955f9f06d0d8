"""EBSD Gym: a real speculative decoder, its entropy signals, and a Gymnasium environment over it."""

from .decoder import DecoderError, DraftStep, Generation, SpeculativeDecoder, VerifyResult, rollback_cache
from .entropy import ENTROPY_TYPES, EntropyConfig
from .models import EMBEDDED_VERIFIER, ModelLoadError, ModelPair, cached_pair, load_pair
from .observation import ObservationLayout

__all__ = [
    "DecoderError", "DraftStep", "ENTROPY_TYPES", "EMBEDDED_VERIFIER", "EntropyConfig", "Generation",
    "ModelLoadError", "ModelPair", "ObservationLayout", "SpeculativeDecoder", "VerifyResult", "cached_pair",
    "load_pair", "rollback_cache",
]
