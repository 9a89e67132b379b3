"""Downstream tasks of StochasTok (Sims et al., 2025): question generation and scoring helpers.

- :mod:`langgame`: LangGame, multiple-choice questions about the spelling of words (which word
  contains, starts or ends with a few letters, has most of a letter, is longest or shortest),
  with their JSONL files and their token arrays for fine-tuning.
- :mod:`addition`: three-digit addition problems with the sum's digits reversed
  (``$123+45=861``), their train/validation split and the answer check.
"""
