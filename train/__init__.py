"""Learning when to stop drafting: `ebsd train ppo` (ppo.py, callbacks.py), `ebsd tune` (tune.py), the
comparison of the two (compare.py) and their shared pieces (common.py). Training the drafter itself is
another subject and lives in `train.drafter` (`ebsd distill`)."""
