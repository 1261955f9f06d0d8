"""Constants of the decoder and the env that light modules need without importing torch (command configs, the
observation layout): `ebsd <command> --help` reads them and stays fast. `decoding.decoder` and `envs.ebsd`
re-export them, where they were defined before."""

# What a stop decision after the j-th draft token verifies: "include" the first j tokens (transformers' confidence
# criteria), or "exclude" the j-th and verify j - 1 (SVIP, llama.cpp's p_min: stop *before* an uncertain token).
STOP_MODES = ("include", "exclude")
# The stop mode of policies that follow the env (the entropy rules, PPO, the oracle). Include measured
# faster on the embedded pair: in exclude mode every stop pays for a drafted token it throws away, which an
# imperfect signal does often (docs/env.md, docs/results/stop-mode/).
DEFAULT_STOP_MODE = "include"

TOP_LOGPROBS = 4  # top log-probabilities each draft step reports (`DraftStep.top_logprobs`)
LOGPROB_FLOOR = -30.0  # log(0) is reported as this, so signals stay finite
