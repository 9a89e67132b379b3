#!/usr/bin/env python
"""What the trainer's start-up check of its data costs: ``data_digests`` next to a plain read.

Before training, :func:`toklab.training.data.data_digests` hashes every file of the training
data with SHA-256 (the run's fingerprint, and the check against the hashes the meta records).
Its peer is the cheapest thing that touches the same bytes: reading the same files in the same
16 MiB chunks without hashing. Both read from the page cache (one untimed pass first), so the
difference is the hashing itself. One process, one thread; fastest of ``--repeats`` calls.

    python benchmarks/bench_data_digests.py [--megabytes 512] [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from timing import fastest

from toklab.datasets.token_array import TokenArrayWriter
from toklab.training.data import data_digests

CHUNK = 1 << 24  # sha256_file's chunk


def token_array(prefix: Path, megabytes: int) -> None:
    """A uint16 token array of ``megabytes`` MB of random ids in 1,000-token documents."""
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 50_000, size=megabytes * 500_000, dtype=np.uint16)
    with TokenArrayWriter(prefix, 50_000) as writer:
        for start in range(0, len(tokens), 1 << 22):
            part = tokens[start : start + (1 << 22)]
            offsets = np.arange(0, len(part) + 1, 1000, dtype=np.int64)
            if offsets[-1] != len(part):
                offsets = np.append(offsets, len(part))
            writer.write(part, offsets)
        writer.finish({"num_bytes": 2 * len(tokens)})


def plain_read(paths: list[Path]) -> int:
    """Read every file in 16 MiB chunks; the bytes read."""
    total = 0
    for path in paths:
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                total += len(chunk)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        prefix = Path(work) / "train"
        token_array(prefix, args.megabytes)
        files = [Path(f"{prefix}.{suffix}") for suffix in ("bin", "idx", "meta.json")]
        size = plain_read(files)  # and into the page cache
        read_seconds, _ = fastest(lambda: plain_read(files), args.repeats)
        digest_seconds, _ = fastest(lambda: data_digests(prefix, "windows"), args.repeats)
    gigabytes = size / 1e9
    print(f"data: {size / 1e6:,.0f} MB (a uint16 token array: .bin, .idx, .meta.json)")
    print(f"  plain read (the peer):  {read_seconds:7.3f} s  {gigabytes / read_seconds:6.2f} GB/s")
    print(
        f"  data_digests (toklab):  {digest_seconds:7.3f} s  {gigabytes / digest_seconds:6.2f} GB/s"
        f"  = {digest_seconds / gigabytes:.2f} s per GB"
    )
    print(f"  ratio data_digests / plain read: {digest_seconds / read_seconds:.1f}x")


if __name__ == "__main__":
    main()
