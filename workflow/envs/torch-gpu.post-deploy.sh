#!/usr/bin/env bash
# Install the toklab package (no dependencies: the env provides them) from the checkout that
# Snakemake runs from. Run snakemake from the repository root, or set TOKLAB_ROOT.
set -euo pipefail
pip install --no-deps --no-build-isolation "${TOKLAB_ROOT:-$PWD}"
