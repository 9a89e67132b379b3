"""Tokenizers: exact byte-level BPE, tokenizers' BpeTrainer, ByteSpan, and their files.

- :mod:`bpe`: the exact CS336-semantics trainer and :class:`~toklab.tokenizers.bpe.BPETokenizer`.
- :mod:`hf_bpe`: byte-level BPE trained by ``tokenizers``' BpeTrainer (Delphi's).
- :mod:`pretoken_counts`: parallel, streaming GPT-2 pre-token counts (the input of BPE).
- :mod:`bytespan`, :mod:`bytespan_global`, :mod:`bytespan_merges`, :mod:`bytespan_tokenizer`:
  ByteSpan's spans and vocabularies, its incremental global constraint, its merge-rank
  inference, and training a :class:`~toklab.tokenizers.bytespan_tokenizer.ByteSpanTokenizer`.
- :mod:`tokenizer_files`: the Hugging Face files every tokenizer is saved as and loaded from.
- :mod:`base`: the contract the trained tokenizers share.
"""
