"""Path templates: filled and partly filled, and the rules' named inputs and outputs."""

from __future__ import annotations

import re

from toklab.workflow import layout


def test_path_fills_only_the_given_wildcards():
    assert layout.path(layout.MANIFEST, corpus="demo") == "results/data/demo/manifest.json"
    assert layout.table("compression") == "results/tables/compression_{corpus}.csv"
    assert layout.table("compression", "demo") == "results/tables/compression_demo.csv"
    assert layout.plot("vocab_overlap", "x") == "results/plots/vocab_overlap_x.png"
    assert layout.log("table", table="bpe_training") == "logs/tables/bpe_training_{corpus}.log"


def test_byte_corpus_files_and_outputs_agree():
    files = layout.byte_corpus_files("demo", "tok_train", "train")
    assert files == {
        "train_bin": "results/data/demo/bytes/tok_train.bin",
        "train_idx": "results/data/demo/bytes/tok_train.idx",
        "train_pretok": "results/data/demo/bytes/tok_train.pretok",
        "train_meta_json": "results/data/demo/bytes/tok_train.meta.json",
    }
    outputs = layout.byte_corpus_outputs()
    assert set(outputs) == {"bin", "idx", "pretok", "meta"}
    filled = {layout.path(p, corpus="demo", subset="tok_train") for p in outputs.values()}
    assert filled == set(files.values())
    assert layout.prefix(files["train_bin"]) == "results/data/demo/bytes/tok_train"


def test_tokenizer_and_lm_paths():
    assert layout.tokenizer_file("c", "bpe-500") == "results/tokenizers/c/bpe-500/tokenizer.json"
    assert layout.tokenizer_file("c", "bpe-500", "merges.txt").endswith("bpe-500/merges.txt")
    outputs = layout.tokenizer_outputs(("tokenizer.json", "tokenizer_config.json", "stats.csv"))
    assert outputs == {
        "tokenizer": "results/tokenizers/{corpus}/{tokenizer}/tokenizer.json",
        "tokenizer_config": "results/tokenizers/{corpus}/{tokenizer}/tokenizer_config.json",
        "stats": "results/tokenizers/{corpus}/{tokenizer}/stats.csv",
    }
    assert layout.lm_outputs()["model"] == (
        "results/models/lm/{corpus}/{tokenizer_corpus}/{tokenization}/{model}/model.safetensors"
    )
    assert layout.lm_file("c", "c", "bytes", "tiny", "config.json") == (
        "results/models/lm/c/c/bytes/tiny/config.json"
    )
    assert layout.lm_path(layout.LM_EVAL, "c", "o", "bpe-500", "m") == (
        "results/eval/lm/c/o/bpe-500/m.json"
    )


def test_download_path_is_the_url_file_name():
    url = "https://example.org/a/b/TinyStoriesV2-GPT4-train.txt?download=1"
    assert layout.download_path(url) == "resources/downloads/TinyStoriesV2-GPT4-train.txt"


def test_every_template_wildcard_has_a_constraint():
    templates = [v for k, v in vars(layout).items() if k.isupper() and isinstance(v, str)]
    templates += list(layout.LOGS.values())
    used = {w for t in templates for w in re.findall(r"\{(\w+)\}", t)}
    assert used - {"table", "plot"} <= set(layout.WILDCARDS)


def test_logs_and_outputs_are_under_their_roots():
    for template in layout.LOGS.values():
        assert template.startswith("logs/") and template.endswith(".log")
    for name in ("TOKENIZER_BENCHMARK", "LM_BENCHMARK", "PREDICTIONS_BENCHMARK"):
        assert getattr(layout, name).startswith("results/benchmarks/")
