"""Evaluation: `ebsd eval` (policies x prompts through the real decoder, a report) and the benchmarks."""
