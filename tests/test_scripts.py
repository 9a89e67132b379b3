"""The click scripts: --help works, and failures are one line on stderr with exit status 1."""

import pytest

from tests.conftest import REPO, byte_corpus, prepare_shards, run_script
from tests.helpers import TINY_MODEL

SCRIPTS = sorted((REPO / "scripts").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_help(script):
    result = run_script(script.name, "--help")
    assert result.returncode == 0 and "Usage:" in result.stdout


def test_bad_spec_json_is_one_line(tmp_path):
    result = prepare_shards(tmp_path, "{nope")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: corpus 'c': --spec-json is not valid JSON "
        "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"
    ]


def test_missing_file_is_one_line(tmp_path):
    spec = {
        "source": {"type": "local", "paths": [str(tmp_path / "gone.txt")]},
        "subsets": {"a": {}},
    }
    result = prepare_shards(tmp_path, spec)
    assert result.returncode == 1
    assert (
        result.stderr.strip().splitlines()[-1]
        == f"Error: corpus 'c': input file not found: {tmp_path / 'gone.txt'}"
    )
    assert not (tmp_path / "shards").exists() and not (tmp_path / "manifest.json").exists()


def test_unknown_subset_for_bytes(tmp_path):
    spec = {"source": {"type": "demo"}, "subsets": {"a": {"documents": 2}}}
    prepare_shards(tmp_path, spec, corpus="d")
    result = run_script(
        "prepare_corpus.py",
        "bytes",
        "--manifest",
        str(tmp_path / "manifest.json"),
        "--subset",
        "b",
        "--prefix",
        str(tmp_path / "bytes" / "b"),
    )
    assert result.returncode == 1
    assert "no subset 'b' (has a)" in result.stderr
    assert not (tmp_path / "bytes").exists() or not any((tmp_path / "bytes").iterdir())


def test_download_from_file_url_and_failure(tmp_path):
    source = tmp_path / "src.txt"
    source.write_text("payload")
    ok = run_script(
        "download.py", "--url", source.as_uri(), "--output", str(tmp_path / "out" / "f.txt")
    )
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "out" / "f.txt").read_text() == "payload"
    bad = run_script(
        "download.py", "--url", (tmp_path / "missing").as_uri(), "--output", str(tmp_path / "g.txt")
    )
    assert bad.returncode == 1 and "download failed" in bad.stderr
    assert not (tmp_path / "g.txt").exists()
    wrong = run_script(
        "download.py",
        "--url",
        source.as_uri(),
        "--output",
        str(tmp_path / "h.txt"),
        "--sha256",
        "0" * 64,
    )
    assert wrong.returncode == 1 and "SHA-256 is" in wrong.stderr
    assert not (tmp_path / "h.txt").exists()


def test_train_tokenizer_bad_input_leaves_no_output(tmp_path):
    text = tmp_path / "in.txt"
    text.write_text("some text to train on, twice: some text to train on")
    out = tmp_path / "tok"
    small = run_script(
        "train_tokenizer.py",
        "bpe",
        "--input",
        str(text),
        "--vocab-size",
        "256",
        "--special-token",
        "<|endoftext|>",
        "--out-dir",
        str(out),
    )
    assert small.returncode == 1
    assert small.stderr.strip().splitlines()[-1] == (
        "Error: vocab_size 256 is too small: the 256 bytes and 1 special token(s) need at least 257"
    )
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"caf\xe9 au lait")
    invalid = run_script(
        "train_tokenizer.py",
        "bpe",
        "--input",
        str(bad),
        "--vocab-size",
        "300",
        "--out-dir",
        str(out),
    )
    assert invalid.returncode == 1
    assert (
        invalid.stderr.strip().splitlines()[-1] == f"Error: {bad}: invalid UTF-8 at byte offset 3"
    )
    missing = run_script(
        "train_tokenizer.py",
        "bpe",
        "--input",
        str(tmp_path / "none.txt"),
        "--vocab-size",
        "300",
        "--out-dir",
        str(out),
    )
    assert missing.returncode == 1 and "input file not found" in missing.stderr
    assert not out.exists()
    ok = run_script(
        "train_tokenizer.py",
        "bpe",
        "--input",
        str(text),
        "--vocab-size",
        "260",
        "--out-dir",
        str(out),
    )
    assert ok.returncode == 0, ok.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "merges.txt",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.json",
    ]


def test_train_bytespan_cli(tmp_path):
    import torch

    from toklab.cues import extract_predictions
    from toklab.models.llama import LlamaModel, ModelConfig, save_checkpoint

    torch.manual_seed(0)
    save_checkpoint(LlamaModel(ModelConfig(vocab_size=257, **TINY_MODEL)), tmp_path / "model")
    text = "the cat sat on the mat, the dog sat on the log. " * 40
    prefix = byte_corpus(tmp_path, [text, text.upper()], "tok")
    zarr_path = extract_predictions(
        tmp_path / "model", prefix, tmp_path / "p.zarr", context=64, stride=32
    )
    common = [
        "bytespan",
        "--corpus-prefix",
        str(prefix),
        "--predictions",
        str(zarr_path),
        "--cue",
        "surprisal",
        "--special-token",
        "<|endoftext|>",
    ]
    out = tmp_path / "tok-out"
    ok = run_script(
        "train_tokenizer.py",
        *common,
        "--constraint",
        "combined",
        "--vocab-size",
        "780",
        "--out-dir",
        str(out),
    )
    assert ok.returncode == 0, ok.stderr
    assert sorted(p.name for p in out.iterdir()) == ["stats.csv", "tokenizer.json"]
    failures = [
        (
            ["--constraint", "monotonic", "--vocab-size", "700"],
            "smaller than the initial vocabulary",
        ),
        (
            ["--constraint", "global", "--vocab-size", "800", "--variant", "seeding50"],
            "applies to the monotonic and combined constraints",
        ),
        (
            ["--constraint", "monotonic", "--vocab-size", "800", "--variant", "seeding200"],
            "unknown variant",
        ),
    ]
    for extra, message in failures:
        bad = run_script("train_tokenizer.py", *common, *extra, "--out-dir", str(tmp_path / "bad"))
        assert bad.returncode == 1 and message in bad.stderr.strip().splitlines()[-1], bad.stderr
        assert not (tmp_path / "bad").exists()
    other = byte_corpus(tmp_path, ["another corpus"], "other")
    misaligned = run_script(
        "train_tokenizer.py",
        "bytespan",
        "--corpus-prefix",
        str(other),
        "--predictions",
        str(zarr_path),
        "--cue",
        "surprisal",
        "--constraint",
        "monotonic",
        "--vocab-size",
        "800",
        "--out-dir",
        str(tmp_path / "bad"),
    )
    assert (
        misaligned.returncode == 1 and "computed for a different byte corpus" in misaligned.stderr
    )
    unknown_cue = run_script(
        "train_tokenizer.py",
        *common[:5],
        "--cue",
        "perplexity",
        "--constraint",
        "monotonic",
        "--vocab-size",
        "800",
        "--out-dir",
        str(out),
    )
    assert unknown_cue.returncode == 2 and "perplexity" in unknown_cue.stderr
