"""Live speculative decoding, with no knowledge of rewards or policies.

- `decoder`: `SpeculativeDecoder`, the step API (start / draft / verify / discard) over one drafter strategy;
- `protocol`: the decoder protocol the env needs (met by the live decoder and by `ebsd_env.replay`);
- `drafting`: one strategy class per kind of drafter; `entropy`: the uncertainty signals;
- `models`: `load_pair` (ids, folders, the embedded GGUF verifier), `hub`: the offline check before a download;
- `kernels`: linear-kernel variants and the measured choice per machine; `quantize`: the int4/int8 copies;
- `drafters/`: the project's trained drafter architectures and their shipped weights; `tiny`: test-sized pairs.
"""
