"""The package's layer contract (pyproject.toml, import-linter) holds: no import goes upwards."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import REPO


def test_import_contracts_are_kept():
    command = shutil.which("lint-imports")
    if command is None:
        pytest.fail("lint-imports is not installed (pip install -e '.[dev]')")
    result = subprocess.run(
        [command, "--no-cache"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in result.stdout
