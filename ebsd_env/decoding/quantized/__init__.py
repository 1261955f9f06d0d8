"""The verifier's weight-only quantized copies, the int4 and int8 drafters: ``weights`` (quantizing a verifier's
linear layers into int4 groups or int8 channels, the transformers modules that hold them), ``runner`` (the copy
itself, `quantized_drafter`; `QuantizedLlamaRunner`, its flat decoding loop; the choice of its matrix-product
backend) and
``native`` (those products in the project's own AVX2 C, ``avx2.c``, for CPUs where torch's are slow)."""
