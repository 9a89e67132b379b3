#!/usr/bin/env bash
# Snakemake runs this once inside the new env (--sdm conda), from its working directory.
# It installs toklab from the checkout, editable and without dependencies (the env provides
# them). Run snakemake from the repository root, or set TOKLAB_ROOT to the checkout.
set -euo pipefail
root="${TOKLAB_ROOT:-$PWD}"
if ! grep -qs '^name = "toklab"' "$root/pyproject.toml"; then
    echo "post-deploy: $root is not a toklab checkout; set TOKLAB_ROOT to one" >&2
    exit 1
fi
pip install --no-deps --no-build-isolation --editable "$root"
