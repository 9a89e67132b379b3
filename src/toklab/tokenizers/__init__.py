"""Tokenizers: exact byte-level BPE (and, as later stages land, ByteSpan and friends)."""
