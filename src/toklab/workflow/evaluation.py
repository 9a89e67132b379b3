"""The evaluation stage's plan: tokenizer statistics, the paper tables and the figures.

Statistics (compression, Rényi efficiency, MorphScore) of every tokenizer on a corpus's
evaluation subset, the tables built from them and from the training jobs' costs, and the
figures of the evaluation block. Rules: ``workflow/rules/evaluation.smk``, ``tables.smk``,
``plots.smk``; scripts: ``tokenizer_stats.py``, ``tables.py``, ``plots.py``.
"""

from __future__ import annotations

import os
from typing import Any

from toklab import names
from toklab.errors import ConfigError
from toklab.workflow import layout, shell
from toklab.workflow.config import Block, WorkflowConfig
from toklab.workflow.data import DataPlan
from toklab.workflow.families import BPE, BYTESPAN
from toklab.workflow.tokenizers import TokenizersPlan

#: Languages of MorphScore's gold data (catherinearnett/morphscore, data/{language}_morph_data.csv).
MORPHSCORE_LANGUAGES = frozenset(
    {
        "armenian", "basque", "bulgarian", "cebuano", "english", "georgian", "greek",
        "gujarati", "hungarian", "icelandic", "indonesian", "irish", "japanese", "korean",
        "kurdish", "persian", "slovenian", "spanish", "tamil", "turkish", "urdu", "zulu",
    }
)  # fmt: skip
DEFAULT_MORPHSCORE_URL = (
    "https://raw.githubusercontent.com/catherinearnett/morphscore/"
    "b0901a49c20e2ed760bb56334bcc47f33b76272e/data/{language}_morph_data.csv"
)
#: The tables of a corpus with an evaluation block.
EVALUATION_TABLES = ("tokenizer_stats", "compression", "bpe_training")


class EvaluationPlan:
    """Config → the statistics jobs, tables and figures of each corpus's evaluation block."""

    def __init__(self, config: WorkflowConfig, data: DataPlan, tokenizers: TokenizersPlan) -> None:
        self.config = config
        self.data = data
        self.tokenizers = tokenizers

    def block(self, corpus: str) -> Block:
        """The corpus's evaluation block (tokenizer statistics, tables and plots need one)."""
        block = self.config.corpus(corpus).get("evaluation")
        if block is None:
            raise ConfigError(
                f"corpus '{corpus}' has no 'evaluation' block, so it has no tokenizer statistics"
            )
        return block

    def languages(self, corpus: str) -> list[str]:
        """Languages of the evaluation subset, where the config names them."""
        block = self.config.corpus(corpus)
        subset = block["subsets"].get(self.block(corpus)["subset"], {})
        source = subset.get("source") or block["source"]
        if source["type"] == "demo":
            return list(source["languages"])
        if block.get("languages"):
            return list(block["languages"])
        return [source["language"]] if source.get("language") else []

    def morphscore_gold_files(self, corpus: str) -> dict[str, str]:
        """``{language: gold CSV}`` of the evaluation languages that have gold data."""
        if self.config.corpus(corpus)["source"]["type"] == "demo":
            return {
                language: layout.path(layout.MORPHOLOGY, corpus=corpus, language=language)
                for language in self.data.demo_languages(corpus)
            }
        settings = self.block(corpus)["morphscore"]
        files = {}
        for language in self.languages(corpus):
            gold = settings["languages"].get(language, language.lower())
            if gold in MORPHSCORE_LANGUAGES:
                folder = settings["dir"] or os.path.dirname(layout.MORPHSCORE_GOLD)
                files[language] = os.path.join(folder, f"{gold}_morph_data.csv")
        return files

    def morphscore_url(self, morphscore_language: str) -> str:
        """Download address of one language's MorphScore gold file."""
        urls = {
            block["evaluation"]["morphscore"]["url"]
            for block in self.config.corpora.values()
            if block.get("evaluation")
        }
        url = urls.pop() if urls else DEFAULT_MORPHSCORE_URL
        return url.format(language=morphscore_language)

    def evaluated_tokenizers(self, corpus: str) -> list[tuple[str, str]]:
        """(tokenizer corpus, name) of every tokenizer applied to the evaluation subset."""
        foreign = self.block(corpus)["foreign_tokenizers"]
        return [(corpus, name) for name in self.tokenizers.vocabulary_tokenizers(corpus)] + [
            tuple(spec.split("/", 1)) for spec in foreign
        ]

    def stats_inputs(self, corpus: str, tokenizer_corpus: str, tokenizer: str) -> dict[str, Any]:
        """The tokenizer, the corpus manifest and the gold files of one statistics job."""
        known = [f"{c}/{name}" for c, name in self.evaluated_tokenizers(corpus)]
        requested = f"{tokenizer_corpus}/{tokenizer}"
        if requested not in known:
            raise ConfigError(
                f"tokenizer '{requested}' is not evaluated on corpus '{corpus}' "
                f"(configured: {', '.join(known) or 'none'})"
            )
        return {
            "tokenizer": layout.tokenizer_file(tokenizer_corpus, tokenizer),
            "manifest": layout.path(layout.MANIFEST, corpus=corpus),
            "gold": list(self.morphscore_gold_files(corpus).values()),
        }

    def stats_params(self, corpus: str) -> dict[str, Any]:
        """Evaluation subset, Rényi order, MorphScore's prefix-space flag and gold options."""
        block = self.block(corpus)
        return {
            "subset": block["subset"],
            "alpha": block["renyi_alpha"],
            "prefix_space": (
                "--prefix-space" if block["morphscore"]["prefix_space"] else "--no-prefix-space"
            ),
            "gold": shell.gold_files(self.morphscore_gold_files(corpus)),
        }

    def _stats_files(self, corpus: str, pairs: list[tuple[str, str]]) -> list[str]:
        return [
            layout.path(layout.STATS, corpus=corpus, tokenizer_corpus=c, tokenizer=name)
            for c, name in pairs
        ]

    def stats_files(self, corpus: str) -> list[str]:
        """Statistics JSON of every tokenizer applied to the evaluation subset."""
        return self._stats_files(corpus, self.evaluated_tokenizers(corpus))

    def own_stats_files(self, corpus: str) -> list[str]:
        """Statistics JSON of the corpus's own tokenizers."""
        self.block(corpus)
        return self._stats_files(
            corpus, [(corpus, name) for name in self.tokenizers.vocabulary_tokenizers(corpus)]
        )

    def training_table_entries(self, corpus: str) -> list[dict[str, str]]:
        """Each trained tokenizer with its training subset, tokenizer.json and benchmark file."""
        self.block(corpus)
        entries = [
            {
                "name": name,
                "subset": self.tokenizers.training_subset(corpus, name),
                "tokenizer": layout.tokenizer_file(corpus, name),
                "benchmark": layout.path(layout.TOKENIZER_BENCHMARK, corpus=corpus, tokenizer=name),
            }
            for name in self.tokenizers.trained_tokenizers(corpus)
        ]
        if not entries:
            raise ConfigError(f"corpus '{corpus}' configures no trained tokenizers")
        return entries

    def training_table_inputs(self, corpus: str) -> dict[str, Any]:
        """The manifest, and each trained tokenizer with the benchmark file of its training job."""
        entries = self.training_table_entries(corpus)
        return {
            "manifest": layout.path(layout.MANIFEST, corpus=corpus),
            "tokenizers": [entry["tokenizer"] for entry in entries],
            "benchmarks": [entry["benchmark"] for entry in entries],
        }

    def training_table_options(self, corpus: str) -> str:
        """``--entry NAME SUBSET TOKENIZER BENCHMARK`` options of the training table."""
        return shell.entries(
            (e["name"], e["subset"], e["tokenizer"], e["benchmark"])
            for e in self.training_table_entries(corpus)
        )

    def targets(self, corpus: str) -> list[str]:
        """The paper tables and figures of a corpus with an evaluation block."""
        return self.table_targets(corpus) + self.plot_targets(corpus)

    def table_targets(self, corpus: str) -> list[str]:
        """The paper tables of a corpus with an evaluation block."""
        if self.config.corpus(corpus).get("evaluation") is None:
            return []
        return [layout.table(name, corpus) for name in EVALUATION_TABLES]

    def overlap_tokenizers(self, corpus: str) -> list[str]:
        """The tokenizers of the vocabulary-overlap plot: those trained on the corpus."""
        names_ = self.tokenizers.trained_tokenizers(corpus)
        if len(names_) < 2:
            raise ConfigError(f"corpus '{corpus}' has fewer than two tokenizers to compare")
        return names_

    def overlap_inputs(self, corpus: str) -> list[str]:
        """tokenizer.json of every tokenizer of the vocabulary-overlap plot."""
        return [layout.tokenizer_file(corpus, name) for name in self.overlap_tokenizers(corpus)]

    def overlap_tokenizer_options(self, corpus: str) -> str:
        """``--tokenizer NAME PATH`` options of the vocabulary-overlap plot."""
        return self.tokenizer_options(corpus, self.overlap_tokenizers(corpus))

    def tokenizer_options(self, corpus: str, tokenizers: list[str]) -> str:
        """``--tokenizer NAME PATH`` options for some of the corpus's tokenizers."""
        return shell.tokenizers((name, layout.tokenizer_file(corpus, name)) for name in tokenizers)

    def example_tokenizers(self, corpus: str) -> list[str]:
        """A ByteSpan tokenizer (monotonic frequency if built) and the BPE closest in size."""
        block = self.config.corpus(corpus)
        bytespan, bpe = BYTESPAN.names(block), BPE.names(block)
        if not bytespan or not bpe:
            return []
        shown = min(bytespan, key=lambda name: "-monotonic-frequency-" not in name)
        size = names.vocab_size(shown)
        closest = min(
            bpe,
            key=lambda name: (abs(names.vocab_size(name) - size), not name.startswith("bpe-")),
        )
        return [closest, shown]

    def example_inputs(self, corpus: str) -> dict[str, Any]:
        """Predictions, their byte corpus and the two tokenizers of the surprisal example."""
        shown = self.example_tokenizers(corpus)
        if not shown:
            raise ConfigError(f"corpus '{corpus}' needs BPE and ByteSpan tokenizers for this plot")
        return {
            **self.tokenizers.training_inputs(corpus, shown[1]),
            "tokenizers": [layout.tokenizer_file(corpus, name) for name in shown],
        }

    def example_tokenizer_options(self, corpus: str) -> str:
        """``--tokenizer NAME PATH`` options of the surprisal example."""
        return self.tokenizer_options(corpus, self.example_tokenizers(corpus))

    def example_settings(self, corpus: str) -> dict[str, Any]:
        """Cue, document index and byte count of the surprisal example."""
        plots = self.block(corpus)["plots"]
        return {
            "cue": self.config.block(corpus, "bytespan")["cues"][0],
            "document": plots["example_document"],
            "bytes": plots["example_bytes"],
        }

    def plot_targets(self, corpus: str) -> list[str]:
        """The figures of a corpus with an evaluation block (each where its inputs exist)."""
        if self.config.corpus(corpus).get("evaluation") is None:
            return []
        plots = []
        if self.morphscore_gold_files(corpus):
            plots.append("morphscore_fertility")
        if len(self.tokenizers.trained_tokenizers(corpus)) > 1:
            plots.append("vocab_overlap")
        if self.example_tokenizers(corpus):
            plots.append("surprisal_example")
        return [layout.plot(name, corpus) for name in plots]
