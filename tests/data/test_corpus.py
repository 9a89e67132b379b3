import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from toklab.data.corpus import CorpusSpec, prepare_corpus, subset_shard_paths
from toklab.errors import ConfigError, DataError
from toklab.io import sha256_file


def text_corpus(tmp_path: Path, n: int = 50, name: str = "c.txt") -> Path:
    path = tmp_path / name
    path.write_text("<|endoftext|>".join(f"document number {i} " + "x" * (i % 7) for i in range(n)))
    return path


def local(path: Path) -> dict:
    return {"type": "local", "paths": [str(path)], "delimiter": "<|endoftext|>"}


def run(tmp_path, config, name="c"):
    spec = CorpusSpec.from_config(name, config)
    out = tmp_path / "out"
    manifest = prepare_corpus(spec, out / "shards", out / "manifest.json")
    return manifest, out


def subset_rows(out: Path, subset: str) -> list[dict]:
    rows = []
    for path in subset_shard_paths(out / "manifest.json", subset):
        rows += pq.read_table(path).to_pylist()
    return rows


def test_subsets_are_consecutive_and_disjoint(tmp_path):
    config = {
        "source": local(text_corpus(tmp_path)),
        "subsets": {
            "lm_train": {"documents": 20},
            "tok_train": {"documents": 10},
            "tok_eval": {"documents": 5},
            "validation": {},
        },
        "shard": {"max_rows": 4},
    }
    manifest, out = run(tmp_path, config)
    ids = {name: [r["id"] for r in subset_rows(out, name)] for name in manifest["subsets"]}
    assert ids["lm_train"] == [f"c.txt:{i}" for i in range(20)]
    assert ids["tok_train"] == [f"c.txt:{i}" for i in range(20, 30)]
    assert ids["validation"] == [f"c.txt:{i}" for i in range(35, 50)]
    all_ids = [i for group in ids.values() for i in group]
    assert len(all_ids) == len(set(all_ids)) == 50
    # Sharding: at most 4 rows per shard, files listed with correct counts and hashes.
    assert [s["rows"] for s in manifest["subsets"]["lm_train"]["shards"]] == [4] * 5
    for subset in manifest["subsets"].values():
        for shard in subset["shards"]:
            path = out / "shards" / shard["path"]
            assert sha256_file(path) == shard["sha256"]
            assert pq.read_metadata(path).num_rows == shard["rows"]
    assert set(pq.read_schema(path).names) == {"id", "text"}
    assert json.loads((out / "manifest.json").read_text()) == manifest


def test_byte_quotas_per_language(tmp_path):
    config = {
        "source": {"type": "demo", "seed": 1},
        "subsets": {"a": {"bytes": 20000}, "b": {"bytes": 5000}, "c": {"documents": 3}},
        "shard": {"max_rows": 1000},
    }
    manifest, out = run(tmp_path, config, "demo")
    for name, quota in (("a", 20000), ("b", 5000)):
        rows = subset_rows(out, name)
        for language in ("agglutinative", "fusional"):
            sizes = [len(r["text"].encode()) for r in rows if r["language"] == language]
            # the quota is met, and removing the last document would not meet it
            assert sum(sizes) >= quota > sum(sizes) - sizes[-1]
            assert manifest["subsets"][name]["per_language"][language]["bytes"] == sum(sizes)
    rows_c = subset_rows(out, "c")
    assert sorted(r["language"] for r in rows_c) == ["agglutinative"] * 3 + ["fusional"] * 3
    ids = [r["id"] for name in "abc" for r in subset_rows(out, name)]
    assert len(ids) == len(set(ids))


def test_language_filter_skips_other_languages(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(
        "".join(json.dumps({"text": f"t{i}", "lang": "xyz"[i % 3]}) + "\n" for i in range(30))
    )
    config = {
        "source": {
            "type": "local",
            "format": "jsonl",
            "paths": [str(path)],
            "language_column": "lang",
        },
        "languages": ["x", "z"],
        "subsets": {"a": {"documents": 4}, "b": {}},
    }
    manifest, _ = run(tmp_path, config)
    assert manifest["skipped_other_language"] == 10
    assert manifest["subsets"]["a"]["per_language"] == {
        "x": {"documents": 4, "bytes": 8},
        "z": {"documents": 4, "bytes": 9},
    }
    assert manifest["subsets"]["b"]["documents"] == 12


def test_subset_with_its_own_source(tmp_path):
    config = {
        "source": local(text_corpus(tmp_path, 10, "train.txt")),
        "subsets": {
            "train": {},
            "validation": {"source": local(text_corpus(tmp_path, 3, "valid.txt"))},
        },
    }
    manifest, out = run(tmp_path, config)
    assert manifest["subsets"]["train"]["documents"] == 10
    assert [r["id"] for r in subset_rows(out, "validation")] == [
        "valid.txt:0",
        "valid.txt:1",
        "valid.txt:2",
    ]


def test_source_limit(tmp_path):
    source = {**local(text_corpus(tmp_path)), "limit": {"rows": 7}}
    manifest, _ = run(tmp_path, {"source": source, "subsets": {"all": {}}})
    assert manifest["subsets"]["all"]["documents"] == 7


def test_subset_larger_than_corpus_leaves_nothing(tmp_path):
    config = {
        "source": local(text_corpus(tmp_path, 12)),
        "subsets": {"a": {"documents": 10}, "b": {"documents": 5}},
    }
    with pytest.raises(
        DataError, match="subset 'b' asks for 5 documents but the source had only 2"
    ):
        run(tmp_path, config)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_empty_corpus(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n\n  \n\n")
    with pytest.raises(DataError, match="subset 'all' received no documents"):
        run(tmp_path, {"source": local(path), "subsets": {"all": {}}})
    assert not (tmp_path / "out" / "shards").exists()


def test_config_errors():
    with pytest.raises(ConfigError, match="subset 'a' has no size but is not the last"):
        CorpusSpec.from_config(
            "c", {"source": {"type": "demo"}, "subsets": {"a": {}, "b": {"documents": 1}}}
        )
    with pytest.raises(ConfigError, match="the demo source is endless"):
        CorpusSpec.from_config("c", {"source": {"type": "demo"}, "subsets": {"a": {}}})
    with pytest.raises(ConfigError, match="sets both documents and bytes"):
        CorpusSpec.from_config(
            "c", {"source": {"type": "demo"}, "subsets": {"a": {"documents": 1, "bytes": 2}}}
        )
    with pytest.raises(ConfigError, match="no subsets declared"):
        CorpusSpec.from_config("c", {"source": {"type": "demo"}, "subsets": {}})


def test_rerun_is_byte_identical(tmp_path):
    config = {
        "source": {"type": "demo", "seed": 0},
        "subsets": {"a": {"bytes": 30000}, "b": {"documents": 5}},
        "shard": {"max_rows": 7},
    }
    spec = CorpusSpec.from_config("demo", config)
    outputs = []
    for run_dir in ("one", "two"):
        out = tmp_path / run_dir
        prepare_corpus(spec, out / "shards", out / "manifest.json")
        outputs.append(
            {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
        )
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) > 3
