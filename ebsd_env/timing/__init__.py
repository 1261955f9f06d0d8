"""Time: how the env turns drafting and verification into seconds.

- `clock`: `Clock`, the time ledger (wall, calibrated model, cost profile);
- `cost_model`: `CostModel`, its calibration on a pair and its validation against the wall clock.
"""
