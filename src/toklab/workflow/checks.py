"""Parse-time checks of a config: everything that would otherwise fail only once jobs run.

:func:`validate_config` checks the config against the workflow's schema (types, and a range for
every number) and fills its defaults. :func:`check_config` then checks what the schema cannot
express: the data layout of every corpus, every subset, corpus and tokenizer a block names, the
ranges that depend on other fields (vocabulary sizes and the special tokens, strides and
contexts, T-Free's m and k), the blocks a family needs, the byte LM's byte-level tokenizer,
every LM's preset and training fields, the tokenizers and subsets of tokenized datasets and
their exports, the data of every LM training job, the tokenizations a corpus's ``scale``
block declares bytes per token for, what a corpus of token ids (source ``hf_tokens``) may
ask of its ids, and the Hub repo ids of the publish targets. Each problem
is one :class:`~toklab.errors.ConfigError`, one line naming the corpus, the key and the value
(and for a number, the allowed range).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from toklab import names
from toklab.data.corpus import CorpusSpec
from toklab.errors import ConfigError
from toklab.models.presets import read_presets
from toklab.tokenizers.tokenizer_files import special_token_roles
from toklab.workflow.config import TOKEN_SOURCE, Block
from toklab.workflow.families import BYTE_LEVEL, FAMILIES
from toklab.workflow.launch import train_launcher
from toklab.workflow.plan import Plan
from toklab.workflow.tokenizers import BYTE_TOKENIZER

# ---------------------------------------------------------------------------------------------
# Ranges that depend on other fields


def check_ranges(name: str, corpus: Block) -> None:
    """Numbers whose range depends on other fields (vocabularies, strides, T-Free's m and k) or has a gap."""
    for family in FAMILIES:
        if family.configured(corpus):
            family.check(name, corpus)
    windows = [("bytelm.extraction", (corpus.get("bytelm") or {}).get("extraction"))]
    windows.append(("lm.evaluation", (corpus.get("lm") or {}).get("evaluation")))
    for key, block in windows:
        if block and block["stride"] > block["context"]:
            raise ConfigError(
                f"corpus '{name}': {key}.stride: {block['stride']} is greater than "
                f"{key}.context {block['context']} (allowed: an integer in [1, context])"
            )
    next_word = ((corpus.get("lm") or {}).get("evaluation") or {}).get("next_word")
    if next_word and next_word["choices"] == 1:
        raise ConfigError(
            f"corpus '{name}': lm.evaluation.next_word.choices: 1 is no choice (allowed: 0 to "
            "turn the choice measure off, or an integer of at least 2)"
        )
    if next_word and 0 < next_word["frequent_words"] < next_word["choices"]:
        raise ConfigError(
            f"corpus '{name}': lm.evaluation.next_word.choices: {next_word['choices']} "
            f"candidates need at least as many words, but frequent_words is "
            f"{next_word['frequent_words']}"
        )


# ---------------------------------------------------------------------------------------------
# References, blocks and jobs


def _subset_references(corpus: Block) -> dict[str, str]:
    """``{config key: subset}`` of every subset a corpus's blocks name."""
    references = {}
    for family in FAMILIES:
        if family.configured(corpus):
            references.update(family.subset_references(corpus))
    if corpus.get("bytelm"):
        for key in ("train_subset", "valid_subset", "predict_subset"):
            references[f"bytelm.{key}"] = corpus["bytelm"][key]
    if corpus.get("ngram"):
        for key in ("train_subset", "predict_subset"):
            references[f"ngram.{key}"] = corpus["ngram"][key]
    if corpus.get("evaluation"):
        references["evaluation.subset"] = corpus["evaluation"]["subset"]
    tokenized = corpus.get("tokenized") or {}
    for subset in tokenized.get("subsets", []):
        references[f"tokenized.subsets[{subset}]"] = subset
    for split in ("train", "val"):
        if split in tokenized.get("exports", {}).get("nanogpt", {}):
            references[f"tokenized.exports.nanogpt.{split}"] = tokenized["exports"]["nanogpt"][
                split
            ]
    return references


def check_subsets(name: str, corpus: Block) -> None:
    """Every subset the corpus's blocks name exists."""
    references = [("byte_subsets", subset) for subset in corpus.get("byte_subsets") or []]
    for key, subset in [*references, *_subset_references(corpus).items()]:
        if subset not in corpus["subsets"]:
            raise ConfigError(
                f"corpus '{name}': {key} '{subset}' is not one of its subsets "
                f"({', '.join(corpus['subsets'])})"
            )


def check_families(name: str, corpus: Block) -> None:
    """Each configured family has the blocks it needs, and its names parse."""
    for family in FAMILIES:
        if not family.configured(corpus):
            continue
        for required in family.requires(corpus):
            if not corpus.get(required):
                raise ConfigError(
                    f"corpus '{name}': the '{family.block}' block needs a '{required}' block"
                )
        try:
            family.names(corpus)
        except ConfigError as err:
            raise ConfigError(f"corpus '{name}': {family.block}: {err}") from None


def check_training_fields(name: str, key: str, training: Block) -> None:
    """A ``training`` block's fields are fields of the trainer's config, with valid values."""
    from toklab.training.config import load_train_config

    # the trainer receives the same key=JSON pairs (toklab.workflow.shell.settings)
    overrides = [f"{field}={json.dumps(value)}" for field, value in training.items()]
    try:
        load_train_config(overrides=overrides)
    except ConfigError as err:
        raise ConfigError(f"corpus '{name}': {key}.training: {err}") from None


def check_preset(name: str, key: str, preset: str, presets: Path | None) -> None:
    """A model's preset is one of the preset file's (not checked without the file)."""
    if presets is None:
        return
    available = read_presets(presets)
    if preset not in available:
        raise ConfigError(
            f"corpus '{name}': {key}.preset '{preset}' is not a preset of {presets} "
            f"({', '.join(available)})"
        )


def check_training(name: str, key: str, preset: str, training: Block, presets: Path | None) -> None:
    """A model's preset exists and its training fields are fields of the trainer's config."""
    check_training_fields(name, key, training)
    check_preset(name, key, preset, presets)


def check_batch(name: str, key: str, training: Block, gpus: int) -> None:
    """The batch splits into micro-batches on every GPU (the trainer's check, at parse time)."""
    from toklab.training.config import TrainConfig

    defaults = TrainConfig()
    batch = training.get("batch_size", defaults.batch_size)
    micro = training.get("micro_batch_size", defaults.micro_batch_size)
    if batch % (micro * max(gpus, 1)):
        raise ConfigError(
            f"corpus '{name}': {key}.training.batch_size {batch} is not a multiple of "
            f"micro_batch_size {micro} x {max(gpus, 1)} GPUs"
        )


def check_nodes(name: str, key: str, gpus: int, nodes: int) -> None:
    """A job of several nodes has their launch line: GPUs split evenly, at least 2 per node."""
    if nodes == 1:
        return
    try:
        train_launcher(gpus, nodes, threads=1, mpi="srun")
    except ConfigError as err:
        raise ConfigError(f"corpus '{name}': {key}: {err}") from None
    if gpus // nodes < 2:
        raise ConfigError(
            f"corpus '{name}': {key}: {gpus} GPUs on {nodes} nodes is 1 per node; SLURM's "
            "executor plugin needs more than 1 task per node for a job of several nodes"
        )


def check_bytelm(name: str, corpus: Block, presets: Path | None) -> None:
    """The byte LM's preset and training fields, and the byte-level tokenizer it trains with.

    The byte LM trains on the byte-level tokenizer's token arrays, and its cue extraction
    (``toklab.cues``) reads the EOS as id 256: the tokenizer's first special token must be the
    one that ``tokenizer_files.require_special_token(..., "eos")`` picks.
    """
    lm = corpus.get("bytelm")
    if not lm:
        return
    check_training(name, "bytelm", lm["preset"], lm["training"], presets)
    if not BYTE_LEVEL.configured(corpus):
        raise ConfigError(
            f"corpus '{name}': bytelm trains on the byte-level tokenizer '{BYTE_TOKENIZER}'; "
            "add a byte_level: block (byte_level: {special_tokens: ['<|endoftext|>']})"
        )
    specials = corpus["byte_level"]["special_tokens"]
    eos = special_token_roles(specials).get("eos_token")
    if not specials or eos != specials[0]:
        raise ConfigError(
            f"corpus '{name}': byte_level.special_tokens {specials} must start with the EOS "
            "token (e.g. <|endoftext|> or <eos>), id 256 of the byte LM's cues"
        )
    positions = model_positions(lm["preset"], lm["training"], presets)
    context = lm["extraction"]["context"]
    if positions is not None and context > positions:
        raise ConfigError(
            f"corpus '{name}': bytelm.extraction.context: {context} is greater than the byte "
            f"LM's max_position_embeddings {positions} (allowed: an integer in [2, {positions}])"
        )


def model_positions(preset: str, training: Block, presets: Path | None) -> int | None:
    """A model's ``max_position_embeddings``: its training's ``model`` field, else its preset's.

    None when neither sets it (or without the preset file).
    """
    from toklab.training.config import load_train_config

    overrides = [f"{field}={json.dumps(value)}" for field, value in training.items()]
    model = load_train_config(overrides=overrides).model
    if "max_position_embeddings" in model:
        return model["max_position_embeddings"]
    if presets is None:
        return None
    values = read_presets(presets).get(preset) or {}
    return values.get("max_position_embeddings")


def check_lm(plan: Plan, name: str, corpus: Block, presets: Path | None) -> None:
    """LMs train on tokenized datasets: their tokenizers and subsets are tokenized ones."""
    lm = corpus.get("lm")
    if not lm:
        return
    for key in ("train_subset", "valid_subset"):
        if lm[key] not in plan.tokenized.tokenized_subsets(name):
            raise ConfigError(
                f"corpus '{name}': lm.{key} '{lm[key]}' is not one of tokenized.subsets"
            )
    listed = set(plan.tokenized.tokenized_tokenizers(name))
    lists = {"lm.tokenizers": lm["tokenizers"]}
    lists |= {f"lm.models.{m}.tokenizers": s.get("tokenizers", []) for m, s in lm["models"].items()}
    for key, references in lists.items():
        for reference in references:
            _check_tokenization_name(plan, name, key, reference)
            if plan.config.resolve_tokenizer(name, reference) not in listed:
                raise ConfigError(
                    f"corpus '{name}': {key} names '{reference}', which "
                    "tokenized.tokenizers does not list"
                )
    for model, spec in lm["models"].items():
        check_training(name, f"lm.models.{model}", spec["preset"], spec["training"], presets)


def check_tfree(plan: Plan, name: str, corpus: Block, presets: Path | None) -> None:
    """T-Free's fertility table compares configured token vocabularies; its presets exist."""
    block = corpus.get("tfree")
    if not block:
        return
    for reference in (block.get("fertility") or {}).get("tokenizers") or []:
        _check_tokenizer_reference(plan, name, "tfree.fertility.tokenizers", reference)
        if names.is_tfree(plan.config.resolve_tokenizer(name, reference)[1]):
            raise ConfigError(
                f"corpus '{name}': tfree.fertility.tokenizers names the hasher '{reference}'; "
                "T-Free's own row is always in the table"
            )
    if block.get("params"):
        for preset in plan.tfree.params_models(name):
            check_preset(name, "tfree.params", preset, presets)


def check_lm_jobs(plan: Plan, name: str, presets: Path | None = None) -> None:
    """Every LM training job (the lm block's and the byte LM) has its data and settings.

    A byte LM that the lm block also trains has the lm block's settings; a ``data: chunks``
    job has a Delphi export of its tokenizer and subsets, whose seq_len fits its own.
    """
    for run in plan.lm.trained_runs(name):
        plan.lm.params(name, *run)
        job = plan.lm.job(name, *run)
        check_batch(name, job.key, job.training, job.gpus)
        check_nodes(name, job.key, job.gpus, job.nodes)
        if job.training.get("parallelism") == "fsdp" and job.gpus < 2:
            raise ConfigError(
                f"corpus '{name}': {job.key}.training.parallelism is fsdp, which shards the "
                f"model over several GPUs, but the job has {job.gpus}"
            )
        data = job.training.get("data")
        if names.is_tfree(run[1]) and data is not None:
            raise ConfigError(
                f"corpus '{name}': {job.key}.training.data is {data}, but the T-Free LM on "
                f"'{run[1]}' trains on what tfree.samples says (aligned samples or windows)"
            )
        if data == "aligned":
            raise ConfigError(
                f"corpus '{name}': {job.key}.training.data is aligned, T-Free's samples of "
                "words, which only T-Free LMs read (see tfree.samples)"
            )
        if names.is_tfree(run[1]) and presets is not None:
            model_class = (
                read_presets(presets).get(job.preset, {}).get("model_class", "LlamaForCausalLM")
            )
            if model_class != "LlamaForCausalLM":
                raise ConfigError(
                    f"corpus '{name}': {job.key}.preset '{job.preset}' is a {model_class}; the "
                    f"T-Free LM on '{run[1]}' needs toklab's Llama (its embedding and head swap)"
                )


def check_scale(plan: Plan, name: str, corpus: Block) -> None:
    """``scale.bytes_per_token`` names tokenizations the corpus's LMs train on.

    A key may also be the tokenizer of a listed StochasTok or BPE-dropout variant (whose
    value the variant takes), or the byte-level tokenizer of the byte LM.
    """
    declared = (corpus.get("scale") or {}).get("bytes_per_token") or {}
    trained = set(plan.lm.tokenizer_references(name))
    for reference in list(trained):
        other, _, tokenization = reference.rpartition("/")
        parsed = names.TokenizationName.parse(tokenization)
        if parsed.method is not None:
            trained.add(f"{other}/{parsed.tokenizer}" if other else parsed.tokenizer)
    if corpus.get("bytelm"):
        trained.add(BYTE_TOKENIZER)
    for reference in declared:
        if reference not in trained:
            known = ", ".join(sorted(trained)) or "none"
            raise ConfigError(
                f"corpus '{name}': scale.bytes_per_token names '{reference}', which no LM of "
                f"the corpus trains on (its LMs' tokenizations: {known})"
            )


def check_foreign_tokenizers(plan: Plan, name: str, corpus: Block) -> None:
    """Foreign tokenizers name a configured corpus and one of its tokenizers."""
    for spec in (corpus.get("evaluation") or {}).get("foreign_tokenizers", []):
        _check_tokenizer_reference(plan, name, "foreign tokenizer", spec)
        if names.is_tfree(plan.config.resolve_tokenizer(name, spec)[1]):
            raise ConfigError(
                f"corpus '{name}': foreign tokenizer '{spec}' is a T-Free hasher, which has no "
                "vocabulary to take statistics of (its fertility: the tfree.fertility table)"
            )


def _check_tokenizer_reference(plan: Plan, name: str, key: str, reference: str) -> None:
    other, tokenizer = plan.config.resolve_tokenizer(name, reference)
    if other not in plan.corpora:
        raise ConfigError(f"corpus '{name}': {key} '{reference}' names an unconfigured corpus")
    configured = plan.tokenizers.tokenizer_names(other)
    if tokenizer not in configured:
        raise ConfigError(
            f"corpus '{name}': {key} '{reference}' is not configured "
            f"(corpus '{other}' has {', '.join(configured) or 'none'})"
        )


def _check_tokenization_name(plan: Plan, name: str, key: str, reference: str) -> None:
    """A tokenization a block names parses (a variant's probability in [0, 1], canonical)."""
    try:
        names.TokenizationName.parse(plan.config.resolve_tokenizer(name, reference)[1])
    except ConfigError as err:
        raise ConfigError(f"corpus '{name}': {key}: {err}") from None


def _check_tokenization(plan: Plan, name: str, reference: str) -> None:
    """A tokenized.tokenizers entry: a configured tokenizer, or a variant of one it supports."""
    other, tokenization = plan.config.resolve_tokenizer(name, reference)
    key = "tokenized.tokenizers"
    try:
        parsed = names.TokenizationName.parse(tokenization)
    except ConfigError as err:
        raise ConfigError(f"corpus '{name}': {key}: {err}") from None
    base = f"{other}/{parsed.tokenizer}" if other != name else parsed.tokenizer
    _check_tokenizer_reference(plan, name, key, base)
    if parsed.method is not None and names.is_tfree(parsed.tokenizer):
        raise ConfigError(
            f"corpus '{name}': {key} '{reference}': a T-Free hasher has words, not tokens to "
            "vary (StochasTok, BPE-dropout and characters need a token vocabulary)"
        )
    wordpiece = (
        names.ByteSpanName.match(parsed.tokenizer)
        and names.ByteSpanName.parse(parsed.tokenizer).inference == "wordpiece"
    )
    if parsed.method == "bpedropout" and wordpiece:
        raise ConfigError(
            f"corpus '{name}': {key} '{reference}': BPE-dropout needs merges, and "
            f"'{parsed.tokenizer}' infers with WordPiece (use its -bpeinf variant)"
        )


def check_tokenized(plan: Plan, name: str, corpus: Block) -> None:
    """Tokenized datasets name configured tokenizers; exports name tokenized ones and subsets."""
    block = corpus.get("tokenized")
    if not block:
        return
    for reference in block["tokenizers"]:
        _check_tokenization(plan, name, reference)
    tokenized = set(plan.tokenized.tokenized_tokenizers(name))
    for export, settings in block["exports"].items():
        for reference in (settings or {}).get("tokenizers") or []:
            _check_tokenization_name(plan, name, f"tokenized.exports.{export}", reference)
            if names.is_tfree(plan.config.resolve_tokenizer(name, reference)[1]):
                raise ConfigError(
                    f"corpus '{name}': tokenized.exports.{export} names the T-Free hasher "
                    f"'{reference}', whose word arrays have no token ids to export"
                )
            if plan.config.resolve_tokenizer(name, reference) not in tokenized:
                raise ConfigError(
                    f"corpus '{name}': tokenized.exports.{export} names '{reference}', "
                    "which tokenized.tokenizers does not list"
                )
    for export in ("nanogpt", "cs336"):  # flat uint16 ids
        if export not in block["exports"]:
            continue
        for other, tokenization in plan.tokenized.export_tokenizers(name, export):
            vocab = names.parse(names.tokenizer_of(tokenization)).vocab_size
            if vocab is not None and vocab > 1 << 16:
                raise ConfigError(
                    f"corpus '{name}': tokenized.exports.{export}: '{other}/{tokenization}' has "
                    f"{vocab} ids, which do not fit the export's uint16 (allowed: vocabularies "
                    "of at most 65536)"
                )
    nanogpt = block["exports"].get("nanogpt")
    for split in ("train", "val") if nanogpt else ():
        if nanogpt[split] not in block["subsets"]:
            raise ConfigError(
                f"corpus '{name}': tokenized.exports.nanogpt.{split} '{nanogpt[split]}' is not "
                "one of tokenized.subsets"
            )
    tfree = block["exports"].get("tfree")
    if tfree and tfree["tolerance"] >= tfree["max_bytes"]:
        raise ConfigError(
            f"corpus '{name}': tokenized.exports.tfree.tolerance must be below max_bytes"
        )


def check_stochastok(plan: Plan, name: str, corpus: Block) -> None:
    """StochasTok's tasks name existing subsets, LMs the lm block trains, an addition source."""
    block = corpus.get("stochastok") or {}
    for task in ("langgame", "benchmarks"):
        for run in (block.get(task) or {}).get("runs") or []:
            _check_tokenization_name(plan, name, f"stochastok.{task}.runs", run["tokenizer"])
    langgame = block.get("langgame")
    if langgame:
        subset = langgame["words"].get("subset")
        if subset is not None and subset not in corpus["subsets"]:
            raise ConfigError(
                f"corpus '{name}': stochastok.langgame.words.subset '{subset}' is not one of its "
                "subsets"
            )
        plan.tasks.langgame_runs(name)
        overrides = {"data", "init_from"} & set(langgame["training"])
        if overrides:
            raise ConfigError(
                f"corpus '{name}': stochastok.langgame.training sets {sorted(overrides)}, which "
                "the fine-tuning fixes (examples, from the pretrained LM)"
            )
        # the fine-tuned model is the pretrained LM's, whose preset check_lm checks
        check_training_fields(name, "stochastok.langgame", langgame["training"])
        for run in plan.tasks.langgame_runs(name):
            gpus = plan.tasks.langgame_gpus(name, run)
            check_batch(name, "stochastok.langgame", langgame["training"], gpus)
    benchmarks = block.get("benchmarks")
    if benchmarks:
        extra = set(benchmarks.get("data_files") or {}) - set(benchmarks["names"])
        if extra:
            raise ConfigError(
                f"corpus '{name}': stochastok.benchmarks.data_files names {sorted(extra)}, which "
                "stochastok.benchmarks.names does not list"
            )
        plan.tasks.benchmark_runs(name)
    addition = block.get("addition")
    if addition:
        if corpus["source"].get("type") != "addition":
            raise ConfigError(
                f"corpus '{name}': stochastok.addition evaluates addition problems; the corpus's "
                f"source is {corpus['source'].get('type')!r}, not 'addition'"
            )
        for split in addition["splits"]:
            if split not in corpus["subsets"]:
                raise ConfigError(
                    f"corpus '{name}': stochastok.addition.splits '{split}' is not one of its "
                    "subsets"
                )
        plan.tasks.addition_runs(name)


def check_lm_eval(plan: Plan, name: str, corpus: Block) -> None:
    """The lm_eval block names LMs the lm block trains (not T-Free's) and toklab tasks it has.

    Other task names are lm-eval's to know: its job refuses an unknown one before it runs.
    """
    block = corpus.get("lm_eval")
    if not block:
        return
    for run in block.get("runs") or []:
        _check_tokenization_name(plan, name, "lm_eval.runs", run["tokenizer"])
    plan.tasks.lm_eval_runs(name)
    plan.tasks.lm_eval_toklab_tasks(name)


#: The blocks a corpus of token ids (source hf_tokens) may have: none that reads text.
TOKEN_CORPUS_KEYS = ("source", "subsets", "pretrained", "byte_level", "tokenized", "lm",
                     "stochastok", "lm_eval")  # fmt: skip


def check_split_keys(name: str, corpus: Block) -> None:
    """Only the subsets of a corpus of token ids name a dataset split."""
    if corpus["source"].get("type") == TOKEN_SOURCE:
        return
    for subset, spec in corpus["subsets"].items():
        if (spec or {}).get("split") is not None:
            raise ConfigError(
                f"corpus '{name}': subset '{subset}' sets split, which only the subsets of an "
                "hf_tokens source (a dataset of token ids) read"
            )


def check_token_corpus(plan: Plan, name: str, corpus: Block) -> None:
    """A corpus of token ids: no block that reads text, subsets that are distinct splits.

    Its tokenizer is a configured one with a token vocabulary; its token arrays are the
    imported ones and their StochasTok expansions (the other variants re-encode text), its
    exports those of token ids, and its LMs are evaluated without the text's next words.
    """
    source = plan.config.token_source(name)
    if source is None:
        return
    where = f"corpus '{name}': its source is hf_tokens (token ids, no text)"
    for key, value in corpus.items():
        # shard (the schema fills it) sizes the parquet shards of text, which it has none of
        if key not in (*TOKEN_CORPUS_KEYS, "shard") and value is not None:
            raise ConfigError(
                f"{where}, but it has a '{key}' block, which needs text (allowed: "
                f"{', '.join(TOKEN_CORPUS_KEYS)})"
            )
    splits: dict[str, str] = {}
    for subset, spec in corpus["subsets"].items():
        spec = spec or {}
        for key in ("bytes", "source"):
            if spec.get(key) is not None:
                raise ConfigError(
                    f"{where}; subset '{subset}' sets {key} (allowed: split, and documents to "
                    "keep the first of its split)"
                )
        split = spec.get("split", subset)
        if split in splits:
            raise ConfigError(
                f"{where}; subsets '{splits[split]}' and '{subset}' both read split '{split}' "
                "(subsets are disjoint)"
            )
        splits[split] = subset
    _check_tokenizer_reference(plan, name, "source.tokenizer", source["tokenizer"])
    imported = plan.tokenized.imported_tokenizer(name)
    if names.is_tfree(imported[1]):
        raise ConfigError(
            f"{where}; source.tokenizer '{source['tokenizer']}' is a T-Free hasher, which has no "
            "token ids"
        )
    tokenized = corpus.get("tokenized") or {}
    for reference in tokenized.get("tokenizers", []):
        other, tokenization = plan.config.resolve_tokenizer(name, reference)
        parsed = names.TokenizationName.parse(tokenization)
        if (other, parsed.tokenizer) != imported or parsed.method not in (None, "stochastok"):
            raise ConfigError(
                f"{where}; tokenized.tokenizers names '{reference}', but its arrays are the "
                f"ids of '{source['tokenizer']}' and their StochasTok expansions "
                "(<tokenizer>-stochastok<p>); the others re-encode text"
            )
    if "tfree" in tokenized.get("exports", {}):
        raise ConfigError(f"{where}, but tokenized.exports has tfree, T-Free's byte stores of text")
    lm = corpus.get("lm")
    if lm and lm["evaluation"]["next_word"]["items"]:
        raise ConfigError(
            f"{where}; lm.evaluation.next_word reads the validation subset's text: set "
            "lm.evaluation.next_word.items: 0"
        )
    tasks = corpus.get("stochastok") or {}
    if tasks.get("langgame") and "subset" in tasks["langgame"]["words"]:
        raise ConfigError(
            f"{where}; stochastok.langgame.words.subset takes words from a subset's text"
        )


def check_morphscore_urls(plan: Plan) -> None:
    """Every corpus that downloads MorphScore's gold files names the same address."""
    urls = {
        block["evaluation"]["morphscore"]["url"]
        for block in plan.corpora.values()
        if block.get("evaluation")
    }
    if len(urls) > 1:
        raise ConfigError(f"corpora name different MorphScore urls: {sorted(urls)}")


def check_publish(plan: Plan) -> None:
    """With a ``publish`` block: every target's repo id is valid on the Hub, and its own.

    A suite publishes to its LM's repo (as branches) and is not another repo.
    """
    if not plan.config.publish:
        return
    from toklab.publishing.hub import check_repo_id

    owners: dict[tuple[str, str], str] = {}
    for corpus in plan.corpora:
        for marker, repo_type, repo_id in plan.publishing.repos(corpus):
            try:
                check_repo_id(repo_id)
            except ConfigError as err:
                raise ConfigError(f"publish: {marker}: {err}") from None
            other = owners.setdefault((repo_type, repo_id), marker)
            if other != marker:
                raise ConfigError(
                    f"publish: {other} and {marker} would both publish to the {repo_type} repo "
                    f"{repo_id}; rename a corpus, tokenizer or model"
                )


def check_config(
    config: dict[str, Any], presets: Path | None = None, repository: Path | None = None
) -> Plan:
    """Check a validated config (:func:`validate_config`, defaults filled); return its plan.

    ``presets`` is the model preset file (``resources/model_presets.yaml``) that LM presets
    are looked up in; without it, presets are not checked. ``repository``: where the config's
    ``resources/...`` files are (:meth:`Plan.resource`).
    """
    plan = Plan(config, repository)
    for name, corpus in plan.corpora.items():
        check_split_keys(name, corpus)
        if plan.config.token_source(name) is None:  # a corpus of token ids has no data stage
            CorpusSpec.from_config(name, plan.data.corpus_script_config(name))
        check_ranges(name, corpus)
        check_subsets(name, corpus)
        check_families(name, corpus)
        check_bytelm(name, corpus, presets)
    for name, corpus in plan.corpora.items():
        check_token_corpus(plan, name, corpus)
        check_foreign_tokenizers(plan, name, corpus)
        check_tokenized(plan, name, corpus)
        check_lm(plan, name, corpus, presets)
        check_lm_jobs(plan, name, presets)
        check_stochastok(plan, name, corpus)
        check_lm_eval(plan, name, corpus)
        check_tfree(plan, name, corpus, presets)
        check_scale(plan, name, corpus)
    check_morphscore_urls(plan)
    check_publish(plan)
    return plan
