"""Run fingerprints: what a resumable state was made from, so that it is resumed only by its run.

A long job that resumes (the trainer's checkpoints, prediction extraction's partial zarr group)
stores, beside its state, a fingerprint: a flat mapping ``{"optim.lr": 0.003, "data.train.bin":
"<sha256>", ...}`` of every setting and input that changes the result, plus :data:`FORMAT`.
Before resuming, the job computes the fingerprint of the run it was asked for and compares:

* equal: the state belongs to this run; resume it.
* different (or none recorded): the state is another run's. :func:`mismatch` names the fields
  that differ in one line (``optim.lr 0.003 -> 0.001``), and the job sets the state aside and
  starts from the beginning, so a changed setting never returns the old result.

Which fields go in is each job's decision (:func:`toklab.training.checkpoint.run_fingerprint`,
:func:`toklab.cues.extract_predictions`); this module only compares and reports.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from toklab.io import read_json, write_json

#: Version of the fingerprint's layout and of the fields jobs put in it: raising it makes every
#: older state stale, for a change in what a state means that no field shows.
FORMAT = 1
FILE = "fingerprint.json"
_SHOWN = 12  # characters of a hash shown in messages
_MISSING = object()  # a field one of two fingerprints lacks


def flatten(fields: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level of dotted keys, values as JSON reads them back.

    ``{"optim": {"lr": 3e-3, "betas": (0.9, 0.95)}}`` becomes ``{"optim.lr": 0.003,
    "optim.betas": [0.9, 0.95]}``: a tuple and the list it is stored as compare equal.
    """
    flat: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = json.loads(json.dumps(value, sort_keys=True))
    return flat


def make(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fingerprint of ``fields`` (nested mappings allowed), with the format version."""
    return {"format": FORMAT, **flatten(fields)}


def _shown(value: Any) -> str:
    if not isinstance(value, str):
        return json.dumps(value)
    if len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value[:_SHOWN] + "…"  # a SHA-256
    return value


def differences(recorded: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    """``"key old -> new"`` for each field whose value differs (``(none)`` where one lacks it)."""
    lines = []
    for key in sorted(set(recorded) | set(expected)):
        old, new = recorded.get(key, _MISSING), expected.get(key, _MISSING)
        if old != new:
            old_text = "(none)" if old is _MISSING else _shown(old)
            new_text = "(none)" if new is _MISSING else _shown(new)
            lines.append(f"{key} {old_text} -> {new_text}")
    return lines


def mismatch(recorded: Mapping[str, Any] | None, expected: Mapping[str, Any]) -> str | None:
    """None when ``recorded`` is ``expected``; else one line naming what differs."""
    if recorded is None:
        return "no fingerprint recorded (a state of an older toklab)"
    if dict(recorded) == dict(expected):
        return None
    return ", ".join(differences(recorded, expected))


def read(directory: Path) -> dict[str, Any] | None:
    """The fingerprint stored in ``directory``, or None (none, or an unreadable file)."""
    path = Path(directory) / FILE
    try:
        recorded = read_json(path)
    except (OSError, ValueError):
        return None
    return recorded if isinstance(recorded, dict) else None


def write(directory: Path, fingerprint: Mapping[str, Any]) -> None:
    """Store ``fingerprint`` in ``directory`` (atomically)."""
    write_json(Path(directory) / FILE, dict(fingerprint))


def set_aside(paths: list[Path], stale_dir: Path) -> Path:
    """Move each of ``paths`` that exists into ``stale_dir``, emptied first; return it.

    One earlier run is kept, so that a setting changed by mistake costs a rename, not the run;
    deleting ``stale_dir`` reclaims its space.
    """
    present = [path for path in paths if path.exists()]
    if present:
        if stale_dir.exists():
            shutil.rmtree(stale_dir)
        stale_dir.mkdir(parents=True)
        for path in present:
            path.rename(stale_dir / path.name)
    return stale_dir
