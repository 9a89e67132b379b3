"""toklab: tokenizer research, from raw text to trained models and paper tables."""

__version__ = "0.1.0"
