"""benchmarks/gpu_check.py: its CPU smoke mode runs every section and writes the report.

The GPU figures need a GPU; the smoke run keeps the script from rotting where there is none:
every section runs on the CPU with tiny shapes, the correctness checks must pass, and what needs
CUDA or flash-attn is recorded as skipped with a reason.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from tests.conftest import REPO, tool_env

SCRIPT = REPO / "benchmarks" / "gpu_check.py"
SECTIONS = {"attention", "precision", "fsdp", "extraction", "throughput"}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> tuple[dict, str]:
    """The smoke run's report and stdout."""
    output = tmp_path_factory.mktemp("gpu_check") / "report.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--cpu-smoke", "--threads", "2", "--output", str(output)],
        capture_output=True,
        text=True,
        env=tool_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(output.read_text()), result.stdout


def finite(*values: float) -> bool:
    return all(isinstance(v, float | int) and math.isfinite(v) for v in values)


def test_report_says_what_ran_where(smoke):
    report, stdout = smoke
    assert report["schema"] == "toklab-gpu-check-v1" and report["mode"] == "cpu-smoke"
    assert report["complete"] is True
    env = report["environment"]
    assert env["device"] == "cpu" and env["device_name"] and env["torch"]
    assert {"flash_attn", "cuda", "peak_tflops", "peak_source"} <= set(env)
    assert env["peak_tflops"] is None  # no MFU on CPU, and the reason is given
    assert set(report["sections"]) == SECTIONS
    for name, section in report["sections"].items():
        assert section["status"] == "ok", (name, section.get("reason"))
        assert section["compared_with"], name
    for name in SECTIONS:  # the table names every section
        assert f"\n{name}" in stdout


def test_attention_varlen_path_ran_and_is_within_bf16_error(smoke):
    section = smoke[0]["sections"]["attention"]
    assert section["kernel"] == "flash_reference" and "stands in" in section["note"]
    assert section["varlen_calls"] == section["layers"] > 0  # not SDPA in disguise
    assert section["documents"] > section["shape"][0]  # several documents per row
    diff, bf16 = section["logits_max_abs_diff"], section["logits_bf16_error"]
    assert finite(diff, bf16, section["grad_max_rel_diff"], section["grad_bf16_rel_error"])
    assert 0 < diff <= 2 * bf16 < 0.2 * section["logits_max_abs"]
    assert section["grad_max_rel_diff"] <= 2 * section["grad_bf16_rel_error"] < 0.5
    assert section["pass"] is True


def test_precision_bf16_tracks_fp32(smoke):
    section = smoke[0]["sections"]["precision"]
    fp32, bf16 = section["loss_fp32"], section["loss_bf16"]
    assert len(fp32) == len(bf16) == section["steps"]
    assert finite(*fp32, *bf16)
    assert fp32[-1] < fp32[0]  # it trains
    assert section["max_abs_diff"] < 0.05 * section["loss_drop_fp32"]
    assert section["pass"] is True


def test_fsdp_step_equals_the_unsharded_step_in_fp32(smoke):
    section = smoke[0]["sections"]["fsdp"]
    assert section["backend"] == "gloo" and section["sharded_parameters"] > 0
    assert finite(section["loss"], section["grad_norm"])
    assert section["loss_abs_diff"] <= 1e-5 and section["grad_norm_rel_diff"] <= 1e-4
    assert section["params_max_abs_diff_after_step"] <= 1e-6
    assert section["pass"] is True


def test_extraction_and_throughput_were_measured_or_skipped_with_a_reason(smoke):
    sections = smoke[0]["sections"]
    extraction = sections["extraction"]
    assert (extraction["context"], extraction["stride"]) == (128, 32)
    assert extraction["bytes_per_s"] > 0 and finite(extraction["hours_per_gb"])
    rows = {(r["preset"], r["kernel"], r["compile"]): r for r in sections["throughput"]["rows"]}
    assert set(rows) == {
        ("tiny", kernel, compiled)
        for kernel in ("flash-attn", "sdpa")
        for compiled in (False, True)
    }
    eager = rows[("tiny", "sdpa", False)]
    assert eager["status"] == "ok" and eager["tokens_per_s"] > 0
    assert eager["flops_per_token"] > eager["flops_per_token_6n"] > 0
    assert eager["mfu"] is None  # no peak on CPU
    flash = rows[("tiny", "flash-attn", False)]
    assert flash["status"] == "skipped" and "CUDA" in flash["reason"]
    for kernel in ("flash-attn", "sdpa"):  # compiling on CPU takes too long for a smoke run
        compiled = rows[("tiny", kernel, True)]
        assert compiled["status"] == "skipped" and "cpu-smoke" in compiled["reason"]


def test_full_mode_needs_a_gpu(tmp_path):
    if __import__("torch").cuda.is_available():
        pytest.skip("a GPU is here: the full check would run")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--output", str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
        env=tool_env(),
        timeout=120,
    )
    assert result.returncode == 2 and "--cpu-smoke" in result.stderr
    assert not (tmp_path / "r.json").exists()
