"""Constants of the decoder and the env that light modules need without importing torch (command configs, the
observation layout): `ebsd <command> --help` reads them and stays fast. `decoding.decoder` and `envs.ebsd`
re-export them, where they were defined before."""

# The stop modes are block rules (defined there, with numpy as their only import).
from ..envs.block_rules import DEFAULT_STOP_MODE, STOP_MODES  # noqa: F401  (re-exported)

TOP_LOGPROBS = 4  # top log-probabilities each draft step reports (`DraftStep.top_logprobs`)
LOGPROB_FLOOR = -30.0  # log(0) is reported as this, so signals stay finite
