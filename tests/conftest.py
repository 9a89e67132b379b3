"""Shared fixtures and helpers: paths, shared test data, script and Snakemake runs, small corpora."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or a skip when this checkout has none (a user's fresh clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def gpt2_tokenizer(tmp_path_factory, shared_data) -> Path:
    """GPT-2's vocabulary and merges (../shared/data/cs336) with <|endoftext|>: a tokenizer.json.

    Built once per session; tests only read it (write next to it in their own ``tmp_path``).
    """
    from toklab.tokenizers.tokenizer_files import (
        read_merges_txt,
        read_vocab_json,
        save_tokenizer_files,
    )

    directory = tmp_path_factory.mktemp("gpt2")
    fixtures = shared_data / "cs336"
    save_tokenizer_files(
        directory,
        read_vocab_json(fixtures / "gpt2_vocab.json"),
        read_merges_txt(fixtures / "gpt2_merges.txt"),
        ["<|endoftext|>"],
    )
    return directory / "tokenizer.json"


def tool_env() -> dict[str, str]:
    """The environment for subprocesses: this interpreter's bin first, so `python` is ours."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("HF_DATASETS_OFFLINE", "1")
    return env


def run_snakemake(
    *args: str, workdir: Path, timeout: int = 1500, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run snakemake on this repository's workflow in ``workdir``."""
    result = subprocess.run(
        snakemake_command(workdir, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=tool_env(),
        cwd=workdir,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


@pytest.fixture
def snakemake_runner():
    return run_snakemake


# ---------------------------------------------------------------------------------------------
# Running the scripts and building small corpora


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    """The command line of snakemake on this repository's workflow in ``workdir``."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "workflow" / "Snakefile"),
        "--directory",
        str(workdir),
        *args,
    ]


def run_script(
    name: str, *args: str, cwd: Path | None = None, timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``scripts/<name>`` with this interpreter and ``tool_env``; the finished process."""
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / name), *args],
        capture_output=True,
        text=True,
        env=tool_env(),
        cwd=cwd,
        timeout=timeout,
    )


def prepare_shards(
    directory: Path, spec: Mapping[str, Any] | str, corpus: str = "c"
) -> subprocess.CompletedProcess[str]:
    """``prepare_corpus.py shards`` of a corpus spec (or raw ``--spec-json`` text).

    The shards go to ``directory/shards``, the manifest to ``directory/manifest.json``.
    """
    spec_json = spec if isinstance(spec, str) else json.dumps(spec)
    return run_script(
        "prepare_corpus.py",
        "shards",
        "--corpus",
        corpus,
        "--spec-json",
        spec_json,
        "--shards-dir",
        str(directory / "shards"),
        "--manifest",
        str(directory / "manifest.json"),
    )


def jsonl_corpus(directory: Path, documents: Sequence[Mapping[str, str]]) -> Path:
    """A local JSONL corpus of ``documents`` (``text``, ``language``), prepared; its manifest.

    The corpus is ``c``, with one subset, ``tok_eval`` (see ``prepare_shards``).
    """
    docs = directory / "docs.jsonl"
    docs.write_text("\n".join(json.dumps(doc) for doc in documents), encoding="utf-8")
    spec = {
        "source": {
            "type": "local",
            "format": "jsonl",
            "paths": [str(docs)],
            "language_column": "language",
        },
        "subsets": {"tok_eval": {}},
    }
    result = prepare_shards(directory, spec)
    assert result.returncode == 0, result.stderr
    return directory / "manifest.json"


def byte_corpus(directory: Path, texts: list[str], name: str = "corpus") -> Path:
    """Write ``texts`` as a byte corpus; return its prefix."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from toklab.data.byte_corpus import write_byte_corpus

    directory.mkdir(parents=True, exist_ok=True)
    shard = directory / f"{name}-part-00000.parquet"
    pq.write_table(pa.table({"id": [str(i) for i in range(len(texts))], "text": texts}), shard)
    write_byte_corpus([shard], directory / name)
    return directory / name
