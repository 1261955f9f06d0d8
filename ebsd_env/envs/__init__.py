"""The Gymnasium environments over a decoder: `EBSD-v1` and its observation and objective.

- `ebsd`: `EBSDEnv` (`EBSD-v1`, `EBSD-Deterministic-v1`; `EBSD-Replay-v1` is the same class over a replayed
  decoder, in `ebsd_env.replay`);
- `transition`, `episode`, `env_clock`: the parts of `EBSDEnv` (a step's charged work and what it shows; the
  episode's prompt and statistics; its clock and the clock's former names);
- `observation`: `ObservationLayout`, what a policy sees;
- `objective`: tokens over decoding time, the one objective everything ranks by.
"""
