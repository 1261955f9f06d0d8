"""Training and tuning scripts: `ebsd train ppo` (train/ppo.py) and `ebsd tune` (train/tune.py)."""
