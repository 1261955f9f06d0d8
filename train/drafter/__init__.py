"""Training drafters (`ebsd distill`): data from the verifier (`data`), the feature drafter's records and loss
(`feature`), the token-level drafter's loss (`layers`), the optimisation loop (`training`), the command's
entry point (`command`) and flags (`config`), its stages (`distill`) and the speed measurement of a trained
drafter (`measure`).

The rest of `train/` learns *stopping policies* (PPO, tuning of the rules); this package learns the *drafter*
those policies drive. The drafter models themselves live in `ebsd_env.decoding.drafters`, which the runtime imports.
"""
