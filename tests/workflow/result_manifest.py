"""SHA-256 manifest of a workflow run's outputs, to prove a refactor changed no output byte.

    python -m tests.workflow.result_manifest take  RUN_DIR > manifest.sha256
    python -m tests.workflow.result_manifest check RUN_DIR manifest.sha256

Measurements are left out: the benchmark TSVs and the tables built from them (training cost,
and the LM table's wall times; its results are compared through results/eval/).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path


def is_measurement(relative: Path) -> bool:
    """Benchmark TSVs and the tables that carry their wall times.

    ``bpe_training_*.csv`` is made of measurements; ``lm_*.csv`` joins each LM's result JSON
    (under ``results/eval/``, compared like every other output) with its training job's wall
    time and tokens per second (``lm_eval_*.csv``, lm-evaluation-harness's scores, has none).
    """
    table = relative.parent == Path("results/tables")
    return "benchmarks" in relative.parts or (
        table
        and relative.name.startswith(("bpe_training_", "lm_"))
        and not relative.name.startswith("lm_eval_")
    )


def manifest(run_dir: Path) -> dict[str, str]:
    """``{path under run_dir: sha256}`` of every output file under ``results/``."""
    files = {}
    for path in sorted((run_dir / "results").rglob("*")):
        relative = path.relative_to(run_dir)
        if path.is_file() and not is_measurement(relative):
            files[str(relative)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def differences(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    """One line per missing, extra or changed file."""
    lines = [f"missing: {p}" for p in expected if p not in actual]
    lines += [f"extra: {p}" for p in actual if p not in expected]
    lines += [f"changed: {p}" for p in expected if p in actual and expected[p] != actual[p]]
    return lines


def main(argv: list[str]) -> int:
    command, run_dir, *rest = argv
    current = manifest(Path(run_dir))
    if command == "take":
        sys.stdout.write("".join(f"{digest}  {path}\n" for path, digest in current.items()))
        return 0
    expected = dict(
        reversed(line.split("  ", 1)) for line in Path(rest[0]).read_text().splitlines()
    )
    problems = differences(expected, current)
    print("\n".join(problems) or f"all {len(expected)} files identical")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
