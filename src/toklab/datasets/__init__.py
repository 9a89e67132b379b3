"""Tokenized datasets: token arrays of byte corpora, and their exports to other formats.

- :mod:`token_array`: ``.bin``/``.idx``/``.meta.json`` token ids and the :class:`TokenArray`
  reader that the trainer and every export use.
- :mod:`delphi`: Delphi's parquet chunks (``<bos>``, then documents each followed by ``<eos>``,
  with its one-token overlap between samples).
- :mod:`nanogpt`: StochasTok's / nanoGPT's flat uint16 ``train.bin`` / ``val.bin``.
- :mod:`cs336`: CS336's uint16 ``.npy``.
- :mod:`tfree_memmap`: T-Free's MemoryMap of UTF-8 bytes and the AlignedMemoryMap over it.
"""
