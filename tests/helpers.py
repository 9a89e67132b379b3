"""Small builders shared by tests."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from toklab.data.byte_corpus import write_byte_corpus


def byte_corpus(directory: Path, texts: list[str], name: str = "corpus") -> Path:
    """Write ``texts`` as a byte corpus; return its prefix."""
    directory.mkdir(parents=True, exist_ok=True)
    shard = directory / f"{name}-part-00000.parquet"
    pq.write_table(pa.table({"id": [str(i) for i in range(len(texts))], "text": texts}), shard)
    write_byte_corpus([shard], directory / name)
    return directory / name


TINY_MODEL = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "max_position_embeddings": 64,
}
