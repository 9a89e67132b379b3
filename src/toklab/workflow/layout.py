"""Every path the workflow reads or writes, written once.

Templates use Snakemake's wildcard syntax (``{corpus}``, ``{subset}``, ...): a rule takes its
``output:`` patterns from here, and the planning functions fill the same templates with
:func:`path`. Nothing else in the workflow spells a file name.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from toklab import names

#: The wildcard constraint of every name in a path. ``tokenizer`` names a tokenizer's directory;
#: ``tokenization`` names what a token array or an LM holds (a tokenizer's own ids, or a variant
#: of them, :class:`toklab.names.TokenizationName`). A family's or a variant's own rule narrows
#: them to its grammar (:meth:`toklab.names.Grammar.wildcard`).
WILDCARDS = {
    "corpus": names.NAME,
    "subset": names.NAME,
    "language": names.NAME,
    "model": names.NAME,
    "tokenizer_corpus": names.NAME,
    "tokenizer": names.TOKENIZER,
    "tokenization": names.TOKENIZER,
    "filename": r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    "morphscore_language": r"[a-z]+",
    "split": r"train|val",
    "task_split": r"train|validation",
}

# ---------------------------------------------------------------------------------------------
# Data stage

DOWNLOAD = "resources/downloads/{filename}"
SHARDS = "results/data/{corpus}/shards"
MANIFEST = "results/data/{corpus}/manifest.json"
#: A byte corpus is four files sharing this prefix (see :data:`BYTE_CORPUS_SUFFIXES`).
BYTE_CORPUS = "results/data/{corpus}/bytes/{subset}"
BYTE_CORPUS_SUFFIXES = ("bin", "idx", "pretok", "meta.json")
MORPHOLOGY = "results/data/{corpus}/morphology/{language}.csv"

# ---------------------------------------------------------------------------------------------
# The byte LM's predictions (the byte LM itself is the LM of the byte-level tokenizer, LM_DIR)

PREDICTIONS = "results/predictions/{corpus}/{model}.zarr"
#: The byte n-gram model's predictions (toklab.ngram_cues), the same zarr format.
NGRAM_PREDICTIONS = "results/predictions/{corpus}/ngram/predictions.zarr"

# ---------------------------------------------------------------------------------------------
# Tokenizers and their evaluation

TOKENIZER_DIR = "results/tokenizers/{corpus}/{tokenizer}"
MORPHSCORE_GOLD = "resources/morphscore/{morphscore_language}_morph_data.csv"
STATS = "results/stats/{corpus}/{tokenizer_corpus}/{tokenizer}.json"

# ---------------------------------------------------------------------------------------------
# Tokenized datasets: token arrays of (corpus, subset) by a tokenizer of any corpus, and exports

#: A token array is three files sharing this prefix (see :data:`TOKEN_ARRAY_SUFFIXES`).
TOKEN_ARRAY = "results/tokenized/{corpus}/{tokenizer_corpus}/{tokenization}/{subset}"
TOKEN_ARRAY_SUFFIXES = ("bin", "idx", "meta.json")
#: A T-Free word array is a token array of word ids and its word table (``words.json``).
WORD_ARRAY_SUFFIXES = (*TOKEN_ARRAY_SUFFIXES, "words.json")
#: T-Free's samples: the chunks of a subset's aligned export as a word array (one document per
#: chunk), and ``items.idx``, the export's items over those documents.
ALIGNED_WORD_ARRAY = f"{TOKEN_ARRAY}.aligned"
ALIGNED_WORD_ARRAY_SUFFIXES = (*WORD_ARRAY_SUFFIXES, "items.idx")
#: Delphi: a directory of {subset}-{i:05d}.parquet files and a meta.json.
DELPHI_EXPORT = "results/exports/delphi/{corpus}/{tokenizer_corpus}/{tokenization}/{subset}"
#: StochasTok / nanoGPT: train.bin and val.bin, flat uint16, EOS after every document.
NANOGPT_EXPORT = "results/exports/nanogpt/{corpus}/{tokenizer_corpus}/{tokenization}/{split}.bin"
#: CS336: one uint16 .npy per subset.
CS336_EXPORT = "results/exports/cs336/{corpus}/{tokenizer_corpus}/{tokenization}/{subset}.npy"
#: T-Free: the MemoryMap of a subset's UTF-8 bytes, and the AlignedMemoryMap over it (with the
#: same prefix: T-Free's reader of the aligned map reads the bytes from ``{prefix}.bin``).
TFREE_EXPORT = "results/exports/tfree/{corpus}/{subset}"
TFREE_SUFFIXES = ("bin", "idx", "meta.json")
TFREE_ALIGNED_SUFFIXES = ("indices.bin", "lengths.bin", "offsets.bin")

#: StochasTok: every binary split of every token of a tokenizer, beside it.
STOCHASTOK_SPLITS = "results/tokenizers/{corpus}/{tokenizer}/stochastok_splits.npz"

#: T-Free: the word counts of a subset (the dictionaries of the corpus's hashers are its top).
TFREE_WORD_COUNTS = "results/tfree/{corpus}/{subset}.word_counts.tsv"

# ---------------------------------------------------------------------------------------------
# Language models per tokenizer, trained on token arrays, and their evaluation

LM_DIR = "results/models/lm/{corpus}/{tokenizer_corpus}/{tokenization}/{model}"
LM_FILES = ("model.safetensors", "config.json", "metrics.jsonl")
LM_EVAL = "results/eval/lm/{corpus}/{tokenizer_corpus}/{tokenization}/{model}.json"
#: Next-token log-probabilities of a run's final model and kept checkpoints, one parquet each.
LM_LOGPROBS = "results/eval/logprobs/{corpus}/{tokenizer_corpus}/{tokenization}/{model}"
LM_BENCHMARK = "results/benchmarks/lm/{corpus}/{tokenizer_corpus}/{tokenization}/{model}.tsv"

# ---------------------------------------------------------------------------------------------
# StochasTok's task evaluations of the LMs

#: Multi-digit addition by generation: every kept checkpoint of one LM, every question
#: tokenization and split.
ADDITION_EVAL = "results/eval/addition/{corpus}/{tokenizer_corpus}/{tokenization}/{model}.json"
#: Standard multiple-choice benchmarks (HellaSwag, ARC, WinoGrande, MMLU, BLiMP) of one LM's
#: kept checkpoints and final model
BENCHMARKS_EVAL = "results/eval/benchmarks/{corpus}/{tokenizer_corpus}/{tokenization}/{model}.json"
#: lm-evaluation-harness: lm-eval's results (JSON) of one LM on the corpus's lm_eval tasks
LMEVAL_RESULTS = "results/eval/lm_eval/{corpus}/{tokenizer_corpus}/{tokenization}/{model}.json"
#: toklab's benchmarks as lm-eval task templates (toklab_{benchmark}.yaml), a repository resource
LMEVAL_TASKS = "resources/lm_eval_tasks"
#: LangGame: questions from the corpus's words, JSONL ({prompt, options, answer, kind} lines)
LANGGAME_QUESTIONS = "results/tasks/{corpus}/langgame/{task_split}.jsonl"
#: ... as fine-tuning examples of a tokenizer (a token array and PREFIX.answers.bin)
LANGGAME_EXAMPLES = "results/tasks/{corpus}/langgame/{tokenizer_corpus}/{tokenization}/{task_split}"
LANGGAME_EXAMPLE_SUFFIXES = ("bin", "idx", "meta.json", "answers.bin")
#: An LM of the corpus fine-tuned on LangGame (checkpoints/step-{N}/ kept for the curves)
LANGGAME_MODEL = "results/models/langgame/{corpus}/{tokenizer_corpus}/{tokenization}/{model}"
#: Accuracy of the LM (step 0) and of every kept fine-tuning checkpoint
LANGGAME_EVAL = "results/eval/langgame/{corpus}/{tokenizer_corpus}/{tokenization}/{model}.json"

# ---------------------------------------------------------------------------------------------
# Publishing to the Hugging Face Hub (optional targets, never in the default run): one marker
# per published target, the record of what was sent (repo, revisions, commits, digests)

PUBLISHED_TOKENIZER = "results/published/tokenizers/{corpus}/{tokenizer}.json"
PUBLISHED_DELPHI = "results/published/delphi/{corpus}/{tokenizer_corpus}/{tokenization}.json"
PUBLISHED_NANOGPT = "results/published/nanogpt/{corpus}/{tokenizer_corpus}/{tokenization}.json"
PUBLISHED_LM = "results/published/lm/{corpus}/{tokenizer_corpus}/{tokenization}/{model}.json"
#: An LM's kept checkpoints, one branch each of the LM's repo (published after the LM itself)
PUBLISHED_SUITE = "results/published/suites/{corpus}/{tokenizer_corpus}/{tokenization}/{model}.json"

# ---------------------------------------------------------------------------------------------
# Tables and plots: results/tables/{table}_{corpus}.csv, results/plots/{plot}_{corpus}.png

TABLE = "results/tables/{table}_{corpus}.csv"
PLOT = "results/plots/{plot}_{corpus}.png"

# ---------------------------------------------------------------------------------------------
# Logs (one per job, by rule) and benchmarks (wall time and memory of the measured jobs)

LOGS = {
    "download": "logs/data/download/{filename}.log",
    "prepare_corpus": "logs/data/prepare_corpus/{corpus}.log",
    "byte_corpus": "logs/data/byte_corpus/{corpus}/{subset}.log",
    "demo_morphology": "logs/data/demo_morphology/{corpus}/{language}.log",
    "extract_predictions": "logs/predictions/{corpus}/{model}.log",
    "ngram_cues": "logs/predictions/{corpus}/ngram.log",
    "train_tokenizer": "logs/tokenizers/{corpus}/{tokenizer}.log",
    "download_morphscore": "logs/evaluation/download_morphscore/{morphscore_language}.log",
    "tokenizer_stats": "logs/evaluation/{corpus}/{tokenizer_corpus}/{tokenizer}.log",
    "tokenize": "logs/tokenized/{corpus}/{tokenizer_corpus}/{tokenization}/{subset}.log",
    "import_tokens": "logs/tokenized/import/{corpus}/{tokenizer_corpus}/{tokenization}/{subset}.log",
    "tokenize_words": "logs/tokenized/{corpus}/{tokenizer_corpus}/{tokenization}/{subset}.log",
    "tokenize_aligned_words": (
        "logs/tokenized/{corpus}/{tokenizer_corpus}/{tokenization}/{subset}.aligned.log"
    ),
    "tfree_word_counts": "logs/tfree/word_counts/{corpus}/{subset}.log",
    "tfree_tokenizer": "logs/tokenizers/{corpus}/{tokenizer}.log",
    "export_delphi": "logs/exports/delphi/{corpus}/{tokenizer_corpus}/{tokenization}/{subset}.log",
    "export_nanogpt": "logs/exports/nanogpt/{corpus}/{tokenizer_corpus}/{tokenization}/{split}.log",
    "export_cs336": "logs/exports/cs336/{corpus}/{tokenizer_corpus}/{tokenization}/{subset}.log",
    "export_tfree": "logs/exports/tfree/{corpus}/{subset}.log",
    "stochastok_splits": "logs/stochastok/splits/{corpus}/{tokenizer}.log",
    "expand_stochastok": "logs/stochastok/expand/{corpus}/{tokenizer_corpus}/{tokenization}/{subset}.log",
    "bpe_dropout": "logs/stochastok/bpe_dropout/{corpus}/{tokenizer_corpus}/{tokenization}/{subset}.log",
    "langgame_questions": "logs/tasks/langgame/{corpus}.log",
    "langgame_examples": "logs/tasks/langgame/{corpus}/{tokenizer_corpus}/{tokenization}/{task_split}.log",
    "finetune_langgame": "logs/langgame/{corpus}/{tokenizer_corpus}/{tokenization}/{model}.log",
    "evaluate_langgame": "logs/eval/langgame/{corpus}/{tokenizer_corpus}/{tokenization}/{model}.log",
    "evaluate_benchmarks": "logs/eval/benchmarks/{corpus}/{tokenizer_corpus}/{tokenization}/{model}.log",
    "lm_harness": "logs/eval/lm_eval/{corpus}/{tokenizer_corpus}/{tokenization}/{model}.log",
    "evaluate_addition": "logs/eval/addition/{corpus}/{tokenizer_corpus}/{tokenization}/{model}.log",
    "tokenize_characters": "logs/stochastok/characters/{corpus}/{tokenizer_corpus}/{tokenization}/{subset}.log",
    "train_lm": "logs/lm/{corpus}/{tokenizer_corpus}/{tokenization}/{model}.log",
    "evaluate_lm": "logs/eval/lm/{corpus}/{tokenizer_corpus}/{tokenization}/{model}.log",
    "lm_logprobs": "logs/eval/logprobs/{corpus}/{tokenizer_corpus}/{tokenization}/{model}.log",
    "publish_tokenizer": "logs/published/tokenizers/{corpus}/{tokenizer}.log",
    "publish_delphi": "logs/published/delphi/{corpus}/{tokenizer_corpus}/{tokenization}.log",
    "publish_nanogpt": "logs/published/nanogpt/{corpus}/{tokenizer_corpus}/{tokenization}.log",
    "publish_lm": "logs/published/lm/{corpus}/{tokenizer_corpus}/{tokenization}/{model}.log",
    "publish_suite": "logs/published/suites/{corpus}/{tokenizer_corpus}/{tokenization}/{model}.log",
    "table": "logs/tables/{table}_{corpus}.log",
    "plot": "logs/plots/{plot}_{corpus}.log",
}
TOKENIZER_BENCHMARK = "results/benchmarks/tokenizers/{corpus}/{tokenizer}.tsv"
PREDICTIONS_BENCHMARK = "results/benchmarks/predictions/{corpus}/{model}.tsv"
NGRAM_PREDICTIONS_BENCHMARK = "results/benchmarks/predictions/{corpus}/ngram.tsv"


def path(template: str, **fields: object) -> str:
    """``template`` with the given wildcards filled in; the others stay wildcards.

    ``path(MANIFEST, corpus="demo")`` is a file; ``path(TABLE, table="compression")`` is the
    pattern of a rule's output, still with ``{corpus}``.
    """
    for key, value in fields.items():
        template = template.replace("{" + key + "}", str(value))
    return template


def table(name: str, corpus: str = "{corpus}") -> str:
    """A table's CSV (a pattern in ``{corpus}`` unless a corpus is given)."""
    return path(TABLE, table=name, corpus=corpus)


def plot(name: str, corpus: str = "{corpus}") -> str:
    """A figure's PNG (a pattern in ``{corpus}`` unless a corpus is given)."""
    return path(PLOT, plot=name, corpus=corpus)


def log(rule: str, **fields: str) -> str:
    """The log template of a rule, with ``fields`` filled in (``table=``, ``plot=``)."""
    return path(LOGS[rule], **fields)


def byte_corpus_files(corpus: str, subset: str, key: str) -> dict[str, str]:
    """The four files of a byte corpus as named inputs ``{key}_bin``, ``{key}_idx``, ..."""
    prefix = path(BYTE_CORPUS, corpus=corpus, subset=subset)
    return {
        f"{key}_{suffix.replace('.', '_')}": f"{prefix}.{suffix}" for suffix in BYTE_CORPUS_SUFFIXES
    }


def files_of(prefix: str, suffixes: tuple[str, ...], key: str | None = None) -> dict[str, str]:
    """Files ``{prefix}.{suffix}`` keyed ``{key}_{suffix}`` (dots as ``_``), or by suffix."""
    return {
        (f"{key}_" if key else "") + suffix.replace(".", "_"): f"{prefix}.{suffix}"
        for suffix in suffixes
    }


def aligned_word_array_files(
    corpus: str, subset: str, tokenizer_corpus: str, tokenization: str, key: str | None = None
) -> dict[str, str]:
    """The files of a T-Free hasher's aligned word array, keyed ``{key}_bin``, ... (or ``bin``)."""
    prefix = path(
        ALIGNED_WORD_ARRAY,
        corpus=corpus,
        subset=subset,
        tokenizer_corpus=tokenizer_corpus,
        tokenization=tokenization,
    )
    return files_of(prefix, ALIGNED_WORD_ARRAY_SUFFIXES, key)


def token_array_files(
    corpus: str, subset: str, tokenizer_corpus: str, tokenization: str, key: str | None = None
) -> dict[str, str]:
    """The files of a token array, keyed ``{key}_bin``, ... (or ``bin``, ...).

    A T-Free hasher's arrays are word arrays: the same three files and ``words.json``.
    """
    prefix = path(
        TOKEN_ARRAY,
        corpus=corpus,
        subset=subset,
        tokenizer_corpus=tokenizer_corpus,
        tokenization=tokenization,
    )
    suffixes = WORD_ARRAY_SUFFIXES if names.is_tfree(tokenization) else TOKEN_ARRAY_SUFFIXES
    return files_of(prefix, suffixes, key)


def byte_corpus_outputs() -> dict[str, str]:
    """The byte corpus rule's outputs, keyed by suffix (``bin``, ``idx``, ``pretok``, ``meta``)."""
    return {suffix.split(".")[0]: f"{BYTE_CORPUS}.{suffix}" for suffix in BYTE_CORPUS_SUFFIXES}


def lm_outputs(directory: str = LM_DIR) -> dict[str, str]:
    """An LM training rule's outputs (``model``, ``config``, ``metrics``) in its directory."""
    return {name.split(".")[0]: f"{directory}/{name}" for name in LM_FILES}


def lm_path(
    template: str, corpus: str, tokenizer_corpus: str, tokenization: str, model: str
) -> str:
    """A per-LM template (:data:`LM_DIR`, :data:`LM_EVAL`, :data:`LM_BENCHMARK`) for one LM."""
    return path(
        template,
        corpus=corpus,
        tokenizer_corpus=tokenizer_corpus,
        tokenization=tokenization,
        model=model,
    )


def lm_file(
    corpus: str, tokenizer_corpus: str, tokenization: str, model: str, filename: str
) -> str:
    """A file of a trained LM's directory (the byte LM's: tokenization ``bytes`` of its corpus)."""
    return f"{lm_path(LM_DIR, corpus, tokenizer_corpus, tokenization, model)}/{filename}"


def tokenizer_file(corpus: str, tokenizer: str, filename: str = "tokenizer.json") -> str:
    """A file of a tokenizer's directory."""
    return f"{path(TOKENIZER_DIR, corpus=corpus, tokenizer=tokenizer)}/{filename}"


def tokenizer_outputs(filenames: tuple[str, ...]) -> dict[str, str]:
    """Named outputs of a tokenizer rule (``tokenizer.json`` → ``tokenizer``, ...)."""
    return {name.split(".")[0]: f"{TOKENIZER_DIR}/{name}" for name in filenames}


def download_path(url: str) -> str:
    """Where a source's ``url`` is downloaded to: resources/downloads/<its file name>."""
    return path(DOWNLOAD, filename=os.path.basename(urlsplit(url).path))


def prefix(bin_path: str) -> str:
    """The prefix of a ``.bin`` file's array (``.idx``, ``.meta.json`` share it)."""
    return bin_path.removesuffix(".bin")
