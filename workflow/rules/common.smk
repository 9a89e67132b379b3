# Python helpers of the workflow: config validation, wildcard constraints, target lists and
# input functions. Rules never build paths or read config themselves; they call these.

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from toklab.data.corpus import CorpusSpec
from toklab.errors import ConfigError

validate(config, schema="../schemas/config.schema.yaml")

#: The click scripts of the repository, whatever the working directory (--directory) is.
SCRIPTS_DIR = Path(workflow.basedir).parent / "scripts"


def script(name):
    """Path of a script in ``scripts/``, relative to the working directory where possible."""
    return os.path.relpath(SCRIPTS_DIR / name)


# Names in paths: letters, digits, '_' and '-' (never '/'), as the config schema requires.
wildcard_constraints:
    corpus=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    subset=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    language=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    filename=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    family=r"[a-z][a-z0-9_]*",
    model=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    cue=r"entropy|surprisal|space_nll|eos_nll",
    constraint=r"global|monotonic|combined-p[0-9]+",
    variant=r"(frequency|balanced|seeding[0-9]+)(-bpeinf)?",
    vocab=r"[0-9]+",
    tokenizer_corpus=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    tokenizer=r"[A-Za-z0-9][A-Za-z0-9_.+-]*",
    morphscore_language=r"[a-z]+",


BYTE_CORPUS_SUFFIXES = ("bin", "idx", "pretok", "meta.json")


# ---------------------------------------------------------------------------------------------
# Config access


def get_corpus(corpus):
    """The config block of a corpus; a clear error for an unknown name."""
    if corpus not in config["corpora"]:
        raise WorkflowError(
            f"unknown corpus '{corpus}': configured corpora are {', '.join(config['corpora'])}"
        )
    return config["corpora"][corpus]


def iter_sources(corpus):
    """The corpus's source and every subset-level source, in config order."""
    block = get_corpus(corpus)
    yield block["source"]
    for subset in block["subsets"].values():
        if subset.get("source"):
            yield subset["source"]


def download_path(url):
    """Where a source's ``url`` is downloaded to: resources/downloads/<its file name>."""
    return os.path.join("resources", "downloads", os.path.basename(urlsplit(url).path))


def local_source_files(source):
    """The files a local source reads (downloads included), as Snakemake inputs."""
    if source.get("type") != "local":
        return []
    if source.get("url"):
        return [download_path(source["url"])]
    paths = source["paths"]
    paths = [paths] if isinstance(paths, str) else paths
    return [p for pattern in paths for p in (sorted(glob_files(pattern)) or [pattern])]


def glob_files(pattern):
    import glob

    return glob.glob(pattern) if glob.has_magic(pattern) else [pattern]


def with_local_paths(source):
    """A source block in the form the data scripts read: a downloaded ``url`` becomes ``paths``."""
    if source.get("type") == "local" and source.get("url"):
        rest = {k: v for k, v in source.items() if k != "url"}
        return {**rest, "paths": [download_path(source["url"])]}
    return source


def corpus_script_config(corpus):
    """The corpus's config block as the scripts read it (downloads resolved to local paths)."""
    data_keys = (
        "source",
        "subsets",
        "languages",
        "shard",
    )  # other blocks do not change the data
    block = {k: v for k, v in get_corpus(corpus).items() if k in data_keys}
    block["source"] = with_local_paths(block["source"])
    block["subsets"] = {
        name: (
            {**subset, "source": with_local_paths(subset["source"])}
            if subset.get("source")
            else subset
        )
        for name, subset in block["subsets"].items()
    }
    return block


def check_corpora():
    """Check every corpus spec at parse time, so a bad config fails before any job runs."""
    for corpus in config["corpora"]:
        try:
            CorpusSpec.from_config(corpus, corpus_script_config(corpus))
        except ConfigError as err:
            raise WorkflowError(f"config error: {err}") from None


check_corpora()


def byte_subsets(corpus):
    """Subsets converted to byte corpora: those configured (default all), plus training subsets."""
    block = get_corpus(corpus)
    subsets = (
        block["subsets"] if block.get("byte_subsets") is None else block["byte_subsets"]
    )
    needed = [block["bpe"]["subset"]] if block.get("bpe") else []
    if block.get("bytelm"):
        lm = block["bytelm"]
        needed += [lm["train_subset"], lm["valid_subset"], lm["predict_subset"]]
    return list(dict.fromkeys([*subsets, *needed]))


BPE_FAMILIES = {"toklab": "bpe", "hf": "hfbpe"}


def bpe_tokenizer_names(corpus):
    """Names of the corpus's BPE tokenizers, e.g. bpe-500, hfbpe-1000."""
    bpe = get_corpus(corpus).get("bpe")
    if not bpe:
        return []
    return [
        f"{BPE_FAMILIES[backend]}-{vocab}"
        for backend in bpe["backends"]
        for vocab in bpe["vocab_sizes"]
    ]


def get_bpe_config(wildcards):
    """The corpus's bpe block; an error if the requested tokenizer is not configured."""
    name = f"{wildcards.family}-{wildcards.vocab}"
    if name not in bpe_tokenizer_names(wildcards.corpus):
        raise WorkflowError(
            f"tokenizer '{name}' is not configured for corpus '{wildcards.corpus}' "
            f"(configured: {', '.join(bpe_tokenizer_names(wildcards.corpus)) or 'none'})"
        )
    return get_corpus(wildcards.corpus)["bpe"]


def get_bpe_training_corpus(wildcards):
    """The byte corpus files of the subset a BPE tokenizer trains on."""
    subset = get_corpus(wildcards.corpus)["bpe"]["subset"]
    return byte_corpus_files(wildcards.corpus, subset, "train")


def bpe_backend(wildcards):
    """The training backend of a BPE family."""
    return {family: backend for backend, family in BPE_FAMILIES.items()}[
        wildcards.family
    ]


def special_token_flags(tokens):
    """--special-token options for the shell, quoted."""
    from shlex import quote

    return " ".join(f"--special-token {quote(token)}" for token in tokens)


def special_token_options(wildcards):
    """--special-token options of a corpus's BPE tokenizers."""
    return special_token_flags(get_corpus(wildcards.corpus)["bpe"]["special_tokens"])


def tokenizer_dir(wildcards, output):
    """The directory a tokenizer's files are written to."""
    return os.path.dirname(output.tokenizer)


def demo_languages(corpus):
    """Languages with generated gold morphology: those of a demo-source corpus, else none."""
    source = get_corpus(corpus)["source"]
    return source["languages"] if source["type"] == "demo" else []


# ---------------------------------------------------------------------------------------------
# Targets


def data_targets(corpus):
    """Manifest, byte corpora and (for the demo) gold morphology files of a corpus."""
    targets = [f"results/data/{corpus}/manifest.json"]
    targets += [
        path
        for subset in byte_subsets(corpus)
        for path in byte_corpus_files(corpus, subset, "bytes").values()
    ]
    targets += [
        f"results/data/{corpus}/morphology/{language}.csv"
        for language in demo_languages(corpus)
    ]
    return targets


#: Name suffix of a ByteSpan variant, by inference method.
BYTESPAN_INFERENCE_SUFFIX = {"wordpiece": "", "bpe": "-bpeinf"}


def bytespan_tokenizer_names(corpus):
    """Names of the corpus's ByteSpan tokenizers, e.g. bytespan-surprisal-combined-p30-frequency-1000.

    WordPiece inference: bytespan-{cue}-{constraint}-{variant}-{V}; BPE-merge inference adds
    -bpeinf to the variant: bytespan-{cue}-{constraint}-{variant}-bpeinf-{V}.
    """
    block = get_corpus(corpus).get("bytespan")
    if not block:
        return []
    constraints = [
        f"combined-p{block['percentile']}" if c == "combined" else c
        for c in block["constraints"]
    ]
    return [
        f"bytespan-{cue}-{constraint}-{variant}{BYTESPAN_INFERENCE_SUFFIX[inference]}-{vocab}"
        for cue in block["cues"]
        for constraint in constraints
        for variant in block["variants"]
        if constraint != "global"
        or variant == "frequency"  # seeding: monotonic, combined
        for inference in block["inference"]
        for vocab in block["vocab_sizes"]
    ]


def get_bytespan_inputs(wildcards):
    """The predictions zarr and the byte corpus it belongs to."""
    block = get_corpus(wildcards.corpus)
    if not block.get("bytespan") or not block.get("bytelm"):
        raise WorkflowError(
            f"corpus '{wildcards.corpus}' configures no ByteSpan tokenizers"
        )
    lm = block["bytelm"]
    return {
        "manifest": f"results/data/{wildcards.corpus}/manifest.json",
        "predictions": f"results/predictions/{wildcards.corpus}/{lm['name']}.zarr",
        **byte_corpus_files(wildcards.corpus, lm["predict_subset"], "corpus"),
    }


def bytespan_settings(wildcards):
    """Constraint, variant, inference, percentile, min_frequency and special-token options."""
    block = get_corpus(wildcards.corpus)["bytespan"]
    constraint, _, percentile = wildcards.constraint.partition("-p")
    suffix = BYTESPAN_INFERENCE_SUFFIX["bpe"]
    return {
        "subset": get_corpus(wildcards.corpus)["bytelm"]["predict_subset"],
        "constraint": constraint,
        "variant": wildcards.variant.removesuffix(suffix),
        "inference": "bpe" if wildcards.variant.endswith(suffix) else "wordpiece",
        "percentile": percentile or block["percentile"],
        "min_frequency": block["min_frequency"],
        "specials": special_token_flags(block["special_tokens"]),
    }


TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt")


def tokenizer_targets(corpus):
    """tokenizer.json (with vocab.json and merges.txt) of every configured tokenizer."""
    bpe = [
        f"results/tokenizers/{corpus}/{name}/{filename}"
        for name in bpe_tokenizer_names(corpus)
        for filename in TOKENIZER_FILES
    ]
    bytespan = [
        f"results/tokenizers/{corpus}/{name}/{filename}"
        for name in bytespan_tokenizer_names(corpus)
        for filename in ("tokenizer.json", "stats.csv")
    ]
    return bpe + bytespan


def bytelm_targets(corpus):
    """The byte LM's final checkpoint and its predictions zarr, if the corpus has one."""
    lm = get_corpus(corpus).get("bytelm")
    if not lm:
        return []
    return [
        f"results/models/bytelm/{corpus}/{lm['name']}/model.safetensors",
        f"results/predictions/{corpus}/{lm['name']}.zarr",
    ]


def get_bytelm_config(wildcards):
    """The corpus's bytelm block; an error if no byte LM of that name is configured."""
    lm = get_corpus(wildcards.corpus).get("bytelm")
    if not lm or lm["name"] != wildcards.model:
        raise WorkflowError(
            f"no byte LM '{wildcards.model}' is configured for corpus '{wildcards.corpus}'"
        )
    return lm


def byte_corpus_files(corpus, subset, key):
    """The four files of a byte corpus, keyed ``{key}_bin``, ``{key}_idx``, ..."""
    return {
        f"{key}_{suffix.replace('.', '_')}": f"results/data/{corpus}/bytes/{subset}.{suffix}"
        for suffix in BYTE_CORPUS_SUFFIXES
    }


def get_bytelm_training_data(wildcards):
    """Training and validation byte corpora of a byte LM."""
    lm = get_bytelm_config(wildcards)
    return {
        **byte_corpus_files(wildcards.corpus, lm["train_subset"], "train"),
        **byte_corpus_files(wildcards.corpus, lm["valid_subset"], "valid"),
    }


def get_prediction_inputs(wildcards):
    """The trained byte LM and the byte corpus its predictions are extracted for."""
    lm = get_bytelm_config(wildcards)
    model_dir = f"results/models/bytelm/{wildcards.corpus}/{wildcards.model}"
    return {
        "model": f"{model_dir}/model.safetensors",
        "config": f"{model_dir}/config.json",
        **byte_corpus_files(wildcards.corpus, lm["predict_subset"], "corpus"),
    }


def training_overrides(wildcards):
    """--set options for the trainer: the preset and every training field of the config."""
    from shlex import quote

    lm = get_bytelm_config(wildcards)
    pairs = {"model_preset": lm["preset"], **lm["training"]}
    return " ".join(
        f"--set {quote(f'{key}={json.dumps(value)}')}" for key, value in pairs.items()
    )


def training_prefix(wildcards, input):
    """Prefix of the byte LM's training corpus."""
    return input.train_bin.removesuffix(".bin")


def validation_prefix(wildcards, input):
    """Prefix of the byte LM's validation corpus."""
    return input.valid_bin.removesuffix(".bin")


def prediction_corpus_prefix(wildcards, input):
    """Prefix of the byte corpus predictions are extracted for."""
    return input.corpus_bin.removesuffix(".bin")


def model_dir(wildcards, output):
    """The directory of a trained model."""
    return os.path.dirname(output.model)


def checkpoint_dir(wildcards, input):
    """The directory of the model predictions are extracted with."""
    return os.path.dirname(input.model)


def bytelm_gpus(wildcards):
    """GPUs for byte-LM training (0 on the CPU demo)."""
    return get_bytelm_config(wildcards)["gpus"]


def extraction_gpus(wildcards):
    """Extraction runs on one GPU when training uses any."""
    return min(get_bytelm_config(wildcards)["gpus"], 1)


def extraction_settings(wildcards):
    """Context, stride and batch size of the extraction."""
    return get_bytelm_config(wildcards)["extraction"]


def train_launcher(wildcards, threads, resources):
    """How a training job starts its processes, from the job's ``gpu`` and ``nodes`` resources.

    One GPU or none: ``python``. Several GPUs on one node: ``torchrun`` with one process per
    GPU. Several nodes (SLURM, with ``mpi`` set so that the command runs on the job's first
    node): ``srun`` starts one ``torchrun`` per node with that node's GPUs and CPUs, and they
    meet at the first node. ``gpu`` counts the GPUs of the whole job, as SLURM's ``--gpus``.
    """
    gpus, nodes = resources.gpu, resources.nodes
    if nodes > 1:
        if "mpi" not in resources.keys():
            raise WorkflowError(
                f"{nodes}-node training needs the resources mpi='srun' and tasks_per_node "
                "(see profiles/slurm/profile.yaml)"
            )
        if gpus % nodes:
            raise WorkflowError(
                f"{gpus} GPUs cannot be split evenly over {nodes} nodes"
            )
        per_node = gpus // nodes
        cpus = resources.get("cpus_per_gpu", 0) * per_node or threads
        return (
            f"srun --nodes {nodes} --ntasks {nodes} --ntasks-per-node 1"
            f" --cpus-per-task {cpus} --gpus-per-node {per_node} --kill-on-bad-exit=1"
            f" torchrun --nnodes {nodes} --nproc-per-node {per_node}"
            ' --rdzv-backend c10d --rdzv-endpoint "$(hostname):29500" --rdzv-id "$SLURM_JOB_ID"'
        )
    if gpus > 1:
        return f"torchrun --standalone --nnodes 1 --nproc-per-node {gpus}"
    return "python"


def get_final_targets():
    """The default targets: every stage landed so far, for every configured corpus."""
    return [
        target
        for corpus in config["corpora"]
        for target in data_targets(corpus)
        + tokenizer_targets(corpus)
        + bytelm_targets(corpus)
        + table_targets(corpus)
        + plot_targets(corpus)
    ]


# ---------------------------------------------------------------------------------------------
# Input functions and params


def get_corpus_inputs(wildcards):
    """Local and downloaded files a corpus reads (none for hf and demo sources)."""
    return [
        f
        for source in iter_sources(wildcards.corpus)
        for f in local_source_files(source)
    ]


def get_corpus_spec_json(wildcards):
    """The corpus's config block as JSON for ``prepare_corpus.py shards``."""
    return json.dumps(
        corpus_script_config(wildcards.corpus)
    )  # key order = subset order


def get_download_url(wildcards):
    """The url whose file name is ``wildcards.filename``."""
    for corpus in config["corpora"]:
        for source in iter_sources(corpus):
            url = source.get("url")
            if (
                url
                and download_path(url) == f"resources/downloads/{wildcards.filename}"
            ):
                return url
    raise WorkflowError(
        f"no configured source downloads a file named '{wildcards.filename}'"
    )


def get_demo_source(wildcards):
    """The demo source block of a corpus; an error for a corpus of another source type."""
    source = get_corpus(wildcards.corpus)["source"]
    if source["type"] != "demo" or wildcards.language not in source["languages"]:
        raise WorkflowError(
            f"gold morphology is generated only for the languages of demo corpora; corpus "
            f"'{wildcards.corpus}' has no demo language '{wildcards.language}'"
        )
    return source


def byte_corpus_prefix(wildcards, output):
    """The prefix shared by a byte corpus's files (the .bin path without its suffix)."""
    return output.bin.removesuffix(".bin")


# ---------------------------------------------------------------------------------------------
# Evaluation, tables and plots

#: Languages of MorphScore's gold data (catherinearnett/morphscore, data/{language}_morph_data.csv).
MORPHSCORE_LANGUAGES = (
    "armenian basque bulgarian cebuano english georgian greek gujarati hungarian icelandic "
    "indonesian irish japanese korean kurdish persian slovenian spanish tamil turkish urdu zulu"
).split()
DEFAULT_MORPHSCORE_URL = (
    "https://raw.githubusercontent.com/catherinearnett/morphscore/"
    "b0901a49c20e2ed760bb56334bcc47f33b76272e/data/{language}_morph_data.csv"
)


def get_evaluation(corpus):
    """The corpus's evaluation block; an error if it has none (tables need one)."""
    block = get_corpus(corpus).get("evaluation")
    if block is None:
        raise WorkflowError(
            f"corpus '{corpus}' has no 'evaluation' block, so it has no tokenizer statistics"
        )
    return block


def evaluation_languages(corpus):
    """Languages of the evaluation subset, where the config names them."""
    block = get_corpus(corpus)
    subset = block["subsets"].get(get_evaluation(corpus)["subset"], {})
    source = subset.get("source") or block["source"]
    if source["type"] == "demo":
        return list(source["languages"])
    if block.get("languages"):
        return list(block["languages"])
    return [source["language"]] if source.get("language") else []


def morphscore_gold_files(corpus):
    """{language: gold CSV} for the evaluation languages that have MorphScore gold data."""
    block = get_corpus(corpus)
    if block["source"]["type"] == "demo":
        return {
            language: f"results/data/{corpus}/morphology/{language}.csv"
            for language in demo_languages(corpus)
        }
    settings = get_evaluation(corpus)["morphscore"]
    files = {}
    for language in evaluation_languages(corpus):
        gold = settings["languages"].get(language, language.lower())
        if gold in MORPHSCORE_LANGUAGES:
            folder = settings["dir"] or "resources/morphscore"
            files[language] = os.path.join(folder, f"{gold}_morph_data.csv")
    return files


def evaluated_tokenizers(corpus, foreign=True):
    """(tokenizer corpus, name) of every tokenizer evaluated on the corpus's evaluation subset."""
    own = [(corpus, name) for name in bpe_tokenizer_names(corpus)]
    own += [(corpus, name) for name in bytespan_tokenizer_names(corpus)]
    if not foreign:
        return own
    return own + [
        tuple(spec.split("/", 1))
        for spec in get_evaluation(corpus)["foreign_tokenizers"]
    ]


def morphscore_url(wildcards):
    """Download address of one language's MorphScore gold file (from any corpus's settings)."""
    urls = {
        block["evaluation"]["morphscore"]["url"]
        for block in config["corpora"].values()
        if block.get("evaluation")
    }
    if len(urls) > 1:
        raise WorkflowError(f"corpora name different MorphScore urls: {sorted(urls)}")
    url = urls.pop() if urls else DEFAULT_MORPHSCORE_URL
    return url.format(language=wildcards.morphscore_language)


def stats_path(corpus, tokenizer_corpus, tokenizer):
    """The statistics JSON of one tokenizer on a corpus's evaluation subset."""
    return f"results/stats/{corpus}/{tokenizer_corpus}/{tokenizer}.json"


def get_stats_inputs(wildcards):
    """The tokenizer, the corpus manifest (shards of the evaluation subset) and gold files."""
    get_evaluation(wildcards.corpus)
    known = [f"{c}/{name}" for c, name in evaluated_tokenizers(wildcards.corpus)]
    requested = f"{wildcards.tokenizer_corpus}/{wildcards.tokenizer}"
    if requested not in known:
        raise WorkflowError(
            f"tokenizer '{requested}' is not evaluated on corpus '{wildcards.corpus}' "
            f"(configured: {', '.join(known) or 'none'})"
        )
    return {
        "tokenizer": tokenizer_json(wildcards.tokenizer_corpus, wildcards.tokenizer),
        "manifest": f"results/data/{wildcards.corpus}/manifest.json",
        "gold": list(morphscore_gold_files(wildcards.corpus).values()),
    }


def gold_options(wildcards):
    """--gold LANGUAGE=CSV options of the statistics job."""
    from shlex import quote

    return " ".join(
        f"--gold {quote(f'{language}={path}')}"
        for language, path in morphscore_gold_files(wildcards.corpus).items()
    )


def evaluation_settings(wildcards):
    """Evaluation subset, Rényi order and MorphScore's prefix-space option."""
    block = get_evaluation(wildcards.corpus)
    return {
        "subset": block["subset"],
        "alpha": block["renyi_alpha"],
        "prefix_space": (
            "--prefix-space"
            if block["morphscore"]["prefix_space"]
            else "--no-prefix-space"
        ),
    }


def get_stats_table_inputs(wildcards):
    """Statistics of the corpus's own tokenizers."""
    return [
        stats_path(wildcards.corpus, c, name)
        for c, name in evaluated_tokenizers(wildcards.corpus, foreign=False)
    ]


def get_compression_table_inputs(wildcards):
    """Statistics of the corpus's own tokenizers and of the foreign ones it is configured with."""
    return [
        stats_path(wildcards.corpus, c, name)
        for c, name in evaluated_tokenizers(wildcards.corpus)
    ]


def training_subset(corpus, tokenizer):
    """The subset a tokenizer of the corpus was trained on."""
    if tokenizer in bytespan_tokenizer_names(corpus):
        return get_corpus(corpus)["bytelm"]["predict_subset"]
    return get_corpus(corpus)["bpe"]["subset"]


def get_training_table_inputs(wildcards):
    """Each trained tokenizer and the benchmark file its training job wrote."""
    names = [name for _, name in evaluated_tokenizers(wildcards.corpus, foreign=False)]
    if not names:
        raise WorkflowError(f"corpus '{wildcards.corpus}' configures no tokenizers")
    return {
        "manifest": f"results/data/{wildcards.corpus}/manifest.json",
        "tokenizers": [
            f"results/tokenizers/{wildcards.corpus}/{name}/tokenizer.json"
            for name in names
        ],
        "benchmarks": [
            f"results/benchmarks/tokenizers/{wildcards.corpus}/{name}.tsv"
            for name in names
        ],
    }


def training_entries(wildcards, input):
    """--entry NAME SUBSET TOKENIZER BENCHMARK options of the training table."""
    from shlex import quote

    names = [name for _, name in evaluated_tokenizers(wildcards.corpus, foreign=False)]
    return " ".join(
        f"--entry {name} {training_subset(wildcards.corpus, name)} {quote(tok)} {quote(bench)}"
        for name, tok, bench in zip(names, input.tokenizers, input.benchmarks)
    )


def table_targets(corpus):
    """The paper tables of a corpus with an evaluation block."""
    if get_corpus(corpus).get("evaluation") is None:
        return []
    return [
        f"results/tables/{table}_{corpus}.csv"
        for table in ("tokenizer_stats", "compression", "bpe_training")
    ]


def check_evaluation():
    """Foreign tokenizers must name a configured corpus and one of its tokenizers."""
    for corpus, block in config["corpora"].items():
        for spec in (block.get("evaluation") or {}).get("foreign_tokenizers", []):
            other, _, name = spec.partition("/")
            if other not in config["corpora"]:
                raise WorkflowError(
                    f"corpus '{corpus}': foreign tokenizer '{spec}' names an unconfigured corpus"
                )
            names = bpe_tokenizer_names(other) + bytespan_tokenizer_names(other)
            if name not in names:
                raise WorkflowError(
                    f"corpus '{corpus}': foreign tokenizer '{spec}' is not configured "
                    f"(corpus '{other}' has {', '.join(names) or 'none'})"
                )


check_evaluation()


def overlap_tokenizers(corpus):
    """The tokenizers of the overlap matrix: all of the corpus's own."""
    names = [name for _, name in evaluated_tokenizers(corpus, foreign=False)]
    if len(names) < 2:
        raise WorkflowError(
            f"corpus '{corpus}' has fewer than two tokenizers to compare"
        )
    return names


def tokenizer_json(corpus, name):
    """The tokenizer.json of one of the corpus's tokenizers."""
    return f"results/tokenizers/{corpus}/{name}/tokenizer.json"


def get_overlap_inputs(wildcards):
    """tokenizer.json of every tokenizer of the corpus."""
    return [
        tokenizer_json(wildcards.corpus, name)
        for name in overlap_tokenizers(wildcards.corpus)
    ]


def overlap_tokenizer_options(wildcards):
    """--tokenizer NAME PATH options of the overlap matrix."""
    return tokenizer_options(wildcards.corpus, overlap_tokenizers(wildcards.corpus))


def example_tokenizers(corpus):
    """A ByteSpan tokenizer (monotonic frequency if built) and the BPE closest to it in size."""
    bytespan = bytespan_tokenizer_names(corpus)
    bpe = bpe_tokenizer_names(corpus)
    if not bytespan or not bpe:
        return []
    size = lambda name: int(name.rsplit("-", 1)[1])
    shown = min(bytespan, key=lambda name: "-monotonic-frequency-" not in name)
    closest = min(
        bpe,
        key=lambda name: (abs(size(name) - size(shown)), not name.startswith("bpe-")),
    )
    return [closest, shown]


def get_example_inputs(wildcards):
    """Predictions, their byte corpus, and the two tokenizers drawn on the example document."""
    names = example_tokenizers(wildcards.corpus)
    if not names:
        raise WorkflowError(
            f"corpus '{wildcards.corpus}' needs BPE and ByteSpan tokenizers for this plot"
        )
    return {
        **get_bytespan_inputs(wildcards),
        "tokenizers": [tokenizer_json(wildcards.corpus, name) for name in names],
    }


def example_tokenizer_options(wildcards):
    """--tokenizer NAME PATH options of the surprisal example."""
    return tokenizer_options(wildcards.corpus, example_tokenizers(wildcards.corpus))


def tokenizer_options(corpus, names):
    """--tokenizer NAME PATH options for tokenizers of a corpus."""
    from shlex import quote

    return " ".join(
        f"--tokenizer {name} {quote(tokenizer_json(corpus, name))}" for name in names
    )


def example_settings(wildcards):
    """Cue, document index and byte count of the surprisal example."""
    block = get_corpus(wildcards.corpus)
    plots = get_evaluation(wildcards.corpus)["plots"]
    return {
        "cue": block["bytespan"]["cues"][0],
        "document": plots["example_document"],
        "bytes": plots["example_bytes"],
    }


def plot_targets(corpus):
    """The figures of a corpus with an evaluation block (the example needs ByteSpan and BPE)."""
    if get_corpus(corpus).get("evaluation") is None:
        return []
    targets = []
    if morphscore_gold_files(corpus):
        targets.append(f"results/plots/morphscore_fertility_{corpus}.png")
    if len(evaluated_tokenizers(corpus, foreign=False)) > 1:
        targets.append(f"results/plots/vocab_overlap_{corpus}.png")
    if example_tokenizers(corpus):
        targets.append(f"results/plots/surprisal_example_{corpus}.png")
    return targets
