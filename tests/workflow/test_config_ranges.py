"""Every number of the config has a range, and a value outside it is one line at parse time.

The numeric fields are read from the schema itself: a new one without a range, or one that no
config here can set, fails :func:`test_every_numeric_field_has_a_range` or
:func:`test_every_numeric_field_is_walked`. The trainer's ``training`` blocks are the trainer's
own fields (``toklab.training.config``), checked by ``check_training_fields``.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from tests.conftest import REPO, run_snakemake
from tests.workflow.conftest import CONFIGS, PRESETS, SCHEMA
from toklab.errors import ConfigError
from toklab.workflow.checks import check_config
from toklab.workflow.schema import config_key, validate_config

DOCUMENT = yaml.safe_load(SCHEMA.read_text())


def parse(config: dict) -> None:
    """What the Snakefile does at parse time: the schema, then the checks across fields."""
    check_config(validate_config(config, SCHEMA), presets=PRESETS, repository=REPO)


def raw(name: str = "demo") -> dict:
    return yaml.safe_load(CONFIGS[name].read_text())


def one_line_error(config: dict) -> str:
    with pytest.raises(ConfigError) as error:
        parse(config)
    text = str(error.value)
    assert "\n" not in text, text
    return text


# ---------------------------------------------------------------------------------------------
# The schema's numeric fields, and where a config sets them


def numeric(node: dict) -> bool:
    types = node.get("type", [])
    types = [types] if isinstance(types, str) else types
    return "integer" in types or "number" in types


def resolve(node: dict, pointer: str) -> tuple[dict, str]:
    while "$ref" in node:
        pointer = node["$ref"]
        node = DOCUMENT
        for part in pointer.removeprefix("#/").split("/"):
            node = node[part]
    return node, pointer


def schema_fields(node: dict = DOCUMENT, pointer: str = "#", seen=None) -> dict[str, dict]:
    """``{schema pointer: subschema}`` of every numeric field the schema can reach."""
    seen = set() if seen is None else seen
    node, pointer = resolve(node, pointer)
    if pointer in seen:
        return {}
    seen.add(pointer)
    found = {pointer: node} if numeric(node) else {}
    for key, child in node.get("properties", {}).items():
        found |= schema_fields(child, f"{pointer}/properties/{key}", seen)
    for keyword in ("additionalProperties", "items", "then", "else", "not"):
        if isinstance(node.get(keyword), dict):
            found |= schema_fields(node[keyword], f"{pointer}/{keyword}", seen)
    for keyword in ("allOf", "anyOf", "oneOf"):
        for i, child in enumerate(node.get(keyword, [])):
            found |= schema_fields(child, f"{pointer}/{keyword}/{i}", seen)
    return found


def instance_fields(
    instance: Any, node: dict = DOCUMENT, pointer: str = "#", path: tuple = ()
) -> dict[str, tuple]:
    """``{schema pointer: the first config path}`` of the numeric fields a config sets."""
    node, pointer = resolve(node, pointer)
    found: dict[str, tuple] = {}

    def add(more):
        for key, value in more.items():
            found.setdefault(key, value)

    if numeric(node) and path:
        add({pointer: path})
    if isinstance(instance, dict):
        properties = node.get("properties", {})
        for key, value in instance.items():
            if key in properties:
                add(
                    instance_fields(
                        value, properties[key], f"{pointer}/properties/{key}", (*path, key)
                    )
                )
            elif isinstance(node.get("additionalProperties"), dict):
                child = node["additionalProperties"]
                add(instance_fields(value, child, f"{pointer}/additionalProperties", (*path, key)))
    if isinstance(instance, list) and isinstance(node.get("items"), dict):
        for i, value in enumerate(instance):
            add(instance_fields(value, node["items"], f"{pointer}/items", (*path, i)))
    for i, branch in enumerate(node.get("allOf", [])):
        where = f"{pointer}/allOf/{i}"
        if "if" in branch:
            if Draft202012Validator(branch["if"]).is_valid(instance):
                add(instance_fields(instance, branch["then"], f"{where}/then", path))
        else:
            add(instance_fields(instance, branch, where, path))
    return found


def walked_config() -> dict:
    """The demo config (defaults filled) with the optional blocks that hold the other numbers."""
    config = raw()
    corpus = config["corpora"]["demo"]
    corpus["source"]["limit"] = {"rows": 10**9, "bytes": 10**12}
    corpus["lm"]["reference"] = {"bits_per_byte": 1.0, "source": "a paper"}
    corpus["scale"] = {
        "documents": 1000,
        "bytes": 10**6,
        "bytes_per_token": {"bpe-1000": 4.0},
        "source": "a dataset card",
    }
    next(iter(corpus["lm"]["models"].values())).update(gpus=0, nodes=1)
    corpus["lm_eval"] = {"tasks": ["toklab_arc_easy"], "limit": 10, "num_fewshot": 0}
    return validate_config(config, SCHEMA)


WALKED = walked_config()
FIELDS = schema_fields()
PATHS = instance_fields(WALKED)


def bad_values(node: dict) -> list[int | float]:
    """A value just below the field's range and, with a maximum, one just above it."""
    values = []
    if "minimum" in node:
        values.append(node["minimum"] - 1)
    if "exclusiveMinimum" in node:
        values.append(node["exclusiveMinimum"])
    if "maximum" in node:
        values.append(node["maximum"] + 1)
    if "exclusiveMaximum" in node:
        values.append(node["exclusiveMaximum"])
    return values


def test_schema_walk_finds_the_known_fields():
    keys = {config_key(list(path)) for path in PATHS.values()}
    assert {
        "corpora.demo.bpe.vocab_sizes[0]",
        "corpora.demo.bytelm.extraction.stride",
        "corpora.demo.lm.evaluation.next_word.items",
        "corpora.addition.stochastok.addition.stochastok_p",
        "corpora.demo.tfree.hashers[0].k",
        "corpora.demo.source.limit.rows",
    } <= keys
    assert len(FIELDS) >= 50


@pytest.mark.parametrize("pointer", sorted(FIELDS))
def test_every_numeric_field_has_a_range(pointer):
    node = FIELDS[pointer]
    assert "minimum" in node or "exclusiveMinimum" in node, f"{pointer} has no lower bound"


@pytest.mark.parametrize("pointer", sorted(FIELDS))
def test_every_numeric_field_is_walked(pointer):
    """A field no config sets needs its block in walked_config, so that the walk covers it."""
    assert pointer in PATHS, f"no config sets {pointer}: add its block to walked_config()"


CASES = [
    (pointer, value)
    for pointer in sorted(FIELDS)
    if pointer in PATHS
    for value in bad_values(FIELDS[pointer])
]


@pytest.mark.parametrize(("pointer", "value"), CASES)
def test_out_of_range_value_is_one_line_naming_the_key_and_range(pointer, value):
    config = copy.deepcopy(WALKED)
    *parents, last = PATHS[pointer]
    block = config
    for part in parents:
        block = block[part]
    block[last] = value
    text = one_line_error(config)
    corpus, *key = PATHS[pointer][1:]
    assert text.startswith(f"corpus '{corpus}': {config_key(key)}: {value} is "), text
    bounds = [FIELDS[pointer].get(b) for b in ("minimum", "exclusiveMinimum", "maximum")]
    assert "(allowed: " in text and any(f"{b}" in text.split("(allowed: ")[1] for b in bounds)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_repository_configs_parse(name):
    parse(raw(name))


def test_wrong_type_names_the_range():
    config = raw()
    config["corpora"]["demo"]["bytespan"]["percentile"] = "thirty"
    assert one_line_error(config) == (
        "corpus 'demo': bytespan.percentile: 'thirty' is not of type 'integer' "
        "(allowed: an integer in [0, 100])"
    )


def test_other_schema_errors_are_one_line():
    config = raw()
    config["corpora"]["demo"]["bpe"]["vocab_size"] = 1000
    assert one_line_error(config) == (
        "corpus 'demo': bpe: Additional properties are not allowed ('vocab_size' was unexpected)"
    )
    config = raw()
    config["corpora"]["demo"]["stochastok"]["langgame"]["words"]["file"] = "words.txt"
    assert one_line_error(config).startswith("corpus 'demo': stochastok.langgame.words: ")
    assert one_line_error({"corpora": {}}) == "corpora: {} should be non-empty"
    config = raw()
    config["corpora"]["demo"]["source"]["type"] = "ftp"
    assert "source.type: 'ftp' is not one of" in one_line_error(config)


def test_validation_fills_defaults_as_snakemake_does():
    from tests.workflow.conftest import validated

    assert validate_config(raw(), SCHEMA) == validated(raw())


# ---------------------------------------------------------------------------------------------
# Ranges that depend on other fields


def demo_with(**changes) -> dict:
    config = raw()
    for key, value in changes.items():
        block = config["corpora"]["demo"]
        *parents, last = key.split("__")
        for part in parents:
            block = block.setdefault(part, {})
        block[last] = value
    return config


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"bpe__vocab_sizes": [500, 256]},
            "corpus 'demo': bpe.vocab_sizes[1]: 256 is less than the minimum of 257, the 256 bytes "
            "and 1 special token(s) (allowed: an integer >= 257)",
        ),
        (
            {"bpe__vocab_sizes": [257], "bpe__special_tokens": ["<|endoftext|>", "<|pad|>"]},
            "bpe.vocab_sizes[0]: 257 is less than the minimum of 258, the 256 bytes and 2 special",
        ),
        (
            {"bytespan__vocab_sizes": [768, 1000]},
            "corpus 'demo': bytespan.vocab_sizes[0]: 768 is less than the minimum of 769, the 767 "
            "initial tokens (bytes, their word-initial and continuation forms), the special "
            "tokens and <|unk|> (allowed: an integer >= 769)",
        ),
        (
            {"bytespan__vocab_sizes": [769], "bytespan__special_tokens": ["<a>", "<b>"]},
            "bytespan.vocab_sizes[0]: 769 is less than the minimum of 770",
        ),
        (
            {"bytelm__extraction": {"context": 128, "stride": 256}},
            "corpus 'demo': bytelm.extraction.stride: 256 is greater than bytelm.extraction."
            "context 128 (allowed: an integer in [1, context])",
        ),
        (
            {"bytelm__extraction": {"context": 512}},
            "corpus 'demo': bytelm.extraction.context: 512 is greater than the byte LM's "
            "max_position_embeddings 256 (allowed: an integer in [2, 256])",
        ),
        (
            {"lm__evaluation": {"context": 64, "stride": 128}},
            "corpus 'demo': lm.evaluation.stride: 128 is greater than lm.evaluation.context 64",
        ),
        (
            {"tfree__hashers": [{"v": 1024, "m": 4, "k": 5}]},
            "corpus 'demo': tfree.hashers[0].k: 5 is greater than its m 4 (allowed: an integer "
            "in [0, m])",
        ),
        (
            {"tfree__hashers": [{"v": 3, "m": 4}]},
            "corpus 'demo': tfree.hashers[0].m: 4 is greater than its v 3",
        ),
    ],
)
def test_ranges_across_fields_fail_at_parse_time(changes, message):
    assert message in one_line_error(demo_with(**changes))


def test_smallest_vocabularies_pass():
    parse(demo_with(bpe__vocab_sizes=[257, 1000]))
    parse(demo_with(bpe__vocab_sizes=[256, 1000], bpe__special_tokens=[]))
    parse(demo_with(bytespan__vocab_sizes=[769, 1500]))
    parse(demo_with(bytelm__training={"seq_len": 256, "model.max_position_embeddings": 512},
                    bytelm__extraction={"context": 512, "stride": 512}))  # fmt: skip


def test_job_time_vocab_rules_agree():
    """The parse-time minimums are the ones the tokenizer trainers enforce."""
    from toklab.tokenizers import bytespan
    from toklab.tokenizers.bpe import check_vocab_size
    from toklab.workflow.families import BPE, BYTESPAN

    for specials in ([], ["<|endoftext|>"], ["<a>", "<b>", "<a>"]):
        minimum, _ = BPE.min_vocab({"special_tokens": specials})
        check_vocab_size(minimum, list(dict.fromkeys(specials)))
        with pytest.raises(ConfigError):
            check_vocab_size(minimum - 1, list(dict.fromkeys(specials)))
        minimum, _ = BYTESPAN.min_vocab({"special_tokens": specials})
        assert bytespan.check_room(minimum, bytespan.with_unk(list(dict.fromkeys(specials)))) == 0


def test_uint16_exports_refuse_large_vocabularies():
    config = demo_with(bpe__vocab_sizes=[500, 1000, 70000])
    demo = config["corpora"]["demo"]
    demo["tokenized"]["tokenizers"].append("bpe-70000")
    demo["tokenized"]["exports"]["cs336"] = {"tokenizers": ["bpe-1000", "bpe-70000"]}
    assert one_line_error(config) == (
        "corpus 'demo': tokenized.exports.cs336: 'demo/bpe-70000' has 70000 ids, which do not "
        "fit the export's uint16 (allowed: vocabularies of at most 65536)"
    )


@pytest.mark.parametrize(
    "key", ["tokenized.tokenizers", "lm.tokenizers", "stochastok.langgame.runs"]
)
def test_variant_probability_outside_0_1_is_named(key):
    config = raw()
    demo = config["corpora"]["demo"]
    name = "bpe-1000-stochastok1.5"
    if key == "stochastok.langgame.runs":
        demo["stochastok"]["langgame"]["runs"].append({"tokenizer": name, "model": "tiny"})
    else:
        demo[key.split(".")[0]]["tokenizers"].append(name)
    assert one_line_error(config) == (
        f"corpus 'demo': {key}: '{name}': the stochastok probability 1.5 is outside [0, 1]"
    )


# ---------------------------------------------------------------------------------------------
# Through Snakemake


@pytest.mark.workflow
def test_dry_run_stops_with_one_line_naming_key_and_range(tmp_path):
    config = raw()
    config["corpora"]["demo"]["bpe"]["vocab_sizes"] = [100, 1000]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_snakemake("-n", "--configfile", str(path), workdir=tmp_path, check=False)
    assert result.returncode != 0
    lines = (result.stdout + result.stderr).splitlines()
    assert (
        "config error: corpus 'demo': bpe.vocab_sizes[0]: 100 is less than the minimum of 256 "
        "(allowed: an integer >= 256)"
    ) in lines
    assert not any("ValidationError" in line or "Failed validating" in line for line in lines)
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ({"type": "integer", "minimum": 0, "maximum": 100}, "an integer in [0, 100]"),
        ({"type": "number", "exclusiveMinimum": 0}, "a number > 0"),
        ({"type": ["integer", "null"], "minimum": 0}, "an integer >= 0 or null"),
        ({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}, "a number in (0, 1)"),
        ({"type": "string"}, None),
    ],
)
def test_allowed_range_in_words(schema, words):
    from toklab.workflow.schema import allowed_range

    assert allowed_range(schema) == words


def test_one_next_word_choice_is_refused():
    config = raw()
    config["corpora"]["demo"]["lm"]["evaluation"]["next_word"]["choices"] = 1
    assert one_line_error(config).startswith(
        "corpus 'demo': lm.evaluation.next_word.choices: 1 is no choice (allowed: 0 "
    )
    config["corpora"]["demo"]["lm"]["evaluation"]["next_word"].update(choices=10, frequent_words=5)
    assert one_line_error(config).endswith("need at least as many words, but frequent_words is 5")
