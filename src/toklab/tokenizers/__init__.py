"""Tokenizers: exact byte-level BPE, tokenizers' BpeTrainer, ByteSpan, and their files.

- :mod:`bpe`: the exact CS336-semantics trainer and :class:`~toklab.tokenizers.bpe.BPETokenizer`.
- :mod:`hf_bpe`: byte-level BPE trained by ``tokenizers``' BpeTrainer (Delphi's).
- :mod:`pretoken_counts`: parallel, streaming GPT-2 pre-token counts (the input of BPE), on
  :mod:`pretoken_scan`, the compiled GPT-2 pre-tokenizer and its table of counted byte strings.
- :mod:`merge_loop`: the compiled merge loop of BPE and of ByteSpan's seeding (CS336's ties).
- :mod:`bytespan`, :mod:`bytespan_global`, :mod:`bytespan_merges`, :mod:`bytespan_tokenizer`:
  ByteSpan's spans and vocabularies, its incremental global constraint, its merge-rank
  inference, and training a :class:`~toklab.tokenizers.bytespan_tokenizer.ByteSpanTokenizer`.
- :mod:`tokenizer_files`: the Hugging Face files every tokenizer is saved as and loaded from.
- :mod:`base`: the contract the trained tokenizers share.
"""
