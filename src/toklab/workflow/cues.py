"""The cues stage's plan: per-byte predictions of a byte LM or a byte n-gram model.

The byte LM is trained by the LM stage as the LM of the byte-level tokenizer
(:mod:`toklab.workflow.lm`); this stage extracts its per-byte predictions (the cues ByteSpan
segments by), or counts a byte n-gram model and writes its predictions in the same format
(:mod:`toklab.ngram_cues`, no GPU). Rules: ``workflow/rules/cues.smk``; scripts:
``extract_predictions.py``, ``ngram_cues.py``.
"""

from __future__ import annotations

from typing import Any

from toklab.errors import ConfigError
from toklab.workflow import layout
from toklab.workflow.config import Block, WorkflowConfig
from toklab.workflow.tokenizers import BYTE_TOKENIZER

#: One LM training job: ``(tokenizer corpus, tokenizer, model)`` of a corpus.
LmRun = tuple[str, str, str]


class CuesPlan:
    """Config → the byte LM's run and its predictions."""

    def __init__(self, config: WorkflowConfig) -> None:
        self.config = config

    def bytelm(self, corpus: str, model: str) -> Block:
        """The corpus's byte LM block, which must be named ``model``."""
        lm = self.config.corpus(corpus).get("bytelm")
        if not lm or lm["name"] != model:
            raise ConfigError(f"no byte LM '{model}' is configured for corpus '{corpus}'")
        return lm

    def bytelm_run(self, corpus: str) -> LmRun | None:
        """``(corpus, bytes, name)``: the byte LM's run among the corpus's LMs, if it has one."""
        lm = self.config.corpus(corpus).get("bytelm")
        return (corpus, BYTE_TOKENIZER, lm["name"]) if lm else None

    def prediction_inputs(self, corpus: str, model: str) -> dict[str, str]:
        """The trained byte LM and the byte corpus its predictions are extracted for."""
        lm = self.bytelm(corpus, model)
        run = (corpus, corpus, BYTE_TOKENIZER, model)
        return {
            "model": layout.lm_file(*run, "model.safetensors"),
            "config": layout.lm_file(*run, "config.json"),
            **layout.byte_corpus_files(corpus, lm["predict_subset"], "corpus"),
        }

    def prediction_params(self, corpus: str, model: str) -> dict[str, Any]:
        """Extraction settings and GPUs (one when the byte LM trains on any)."""
        lm = self.bytelm(corpus, model)
        return {"gpus": min(lm["gpus"], 1), **lm["extraction"]}

    def ngram(self, corpus: str) -> Block:
        """The corpus's byte n-gram block."""
        block = self.config.corpus(corpus).get("ngram")
        if not block:
            raise ConfigError(f"no byte n-gram model is configured for corpus '{corpus}'")
        return block

    def ngram_inputs(self, corpus: str) -> dict[str, str]:
        """The byte corpora the n-gram model counts (``train_*``) and predicts (``corpus_*``)."""
        block = self.ngram(corpus)
        return {
            **layout.byte_corpus_files(corpus, block["train_subset"], "train"),
            **layout.byte_corpus_files(corpus, block["predict_subset"], "corpus"),
        }

    def ngram_params(self, corpus: str) -> dict[str, Any]:
        """The n-gram model's order and discount."""
        block = self.ngram(corpus)
        return {"order": block["order"], "discount": block["discount"]}

    def targets(self, corpus: str) -> list[str]:
        """The byte LM's final weights and predictions zarr, the n-gram model's, where set."""
        targets = []
        run = self.bytelm_run(corpus)
        if run is not None:
            targets += [
                layout.lm_file(corpus, *run, "model.safetensors"),
                layout.path(layout.PREDICTIONS, corpus=corpus, model=run[2]),
            ]
        if self.config.corpus(corpus).get("ngram"):
            targets.append(layout.path(layout.NGRAM_PREDICTIONS, corpus=corpus))
        return targets
