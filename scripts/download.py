#!/usr/bin/env python
"""Download one file (e.g. TinyStoriesV2-GPT4-train.txt) atomically, with progress."""

from __future__ import annotations

import hashlib
import urllib.request
from pathlib import Path

import click
from tqdm import tqdm

from toklab.cli import one_line_errors, setup_logging
from toklab.errors import DataError
from toklab.io import atomic_write


@click.command()
@click.option("--url", required=True, help="http(s) or file:// address.")
@click.option("--output", required=True, type=click.Path(path_type=Path))
@click.option("--sha256", default=None, help="Expected SHA-256 of the file (optional).")
@one_line_errors
def main(url: str, output: Path, sha256: str | None) -> None:
    """Download URL to OUTPUT; nothing is left at OUTPUT if the download fails."""
    setup_logging()
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, atomic_write(output) as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=output.name) as progress:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    progress.update(len(chunk))
            if sha256 and digest.hexdigest() != sha256:
                raise DataError(f"{url}: SHA-256 is {digest.hexdigest()}, expected {sha256}")
    except OSError as err:
        raise DataError(f"{url}: download failed ({err})") from None


if __name__ == "__main__":
    main()
