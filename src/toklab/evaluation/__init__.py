"""Tokenizer evaluation: intrinsic statistics, MorphScore, the paper tables and plots."""
