"""`ebsd eval` on a multi-drafter pair: the env it builds there (`envs`), EBSD-Multi-v1 beside EBSD-v1, and what its
report says of it (`report`)."""
