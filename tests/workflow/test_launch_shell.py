"""Training launchers and the quoting of shell options."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest

from toklab.errors import ConfigError
from toklab.workflow import shell
from toklab.workflow.launch import train_launcher


def test_single_process_and_single_node():
    assert train_launcher(0, 1, 4) == "python"
    assert train_launcher(1, 1, 4) == "python"
    assert train_launcher(4, 1, 4) == "torchrun --standalone --nnodes 1 --nproc-per-node 4"


def test_multi_node_starts_one_torchrun_per_node():
    command = train_launcher(4, 2, 8, mpi="srun", cpus_per_gpu=6)
    assert command.startswith(
        "srun --nodes 2 --ntasks 2 --ntasks-per-node 1 --cpus-per-task 12 --gpus-per-node 2"
        " --kill-on-bad-exit=1 torchrun --nnodes 2 --nproc-per-node 2 --rdzv-backend c10d"
    )
    assert "--cpus-per-task 8 " in train_launcher(4, 2, 8, mpi="srun")  # threads otherwise


def test_multi_node_errors():
    with pytest.raises(ConfigError, match="2-node training needs the resources mpi='srun'"):
        train_launcher(4, 2, 8)
    with pytest.raises(ConfigError, match="3 GPUs cannot be split evenly over 2 nodes"):
        train_launcher(3, 2, 8, mpi="srun")


def test_options_survive_the_shell():
    rendered = " ".join(
        [
            shell.special_tokens(["<|endoftext|>", "it's"]),
            shell.settings({"model_preset": "tiny", "optim.lr": 0.003}),
            shell.gold_files({"en": "dir with space/en.csv"}),
            shell.tokenizers([("bpe-500", "a b/tokenizer.json")]),
            shell.entries([("bpe-500", "tok_train", "t.json", "b c.tsv")]),
            shell.entries([("bpe (tiny)", "m.jsonl", "r.json")], option="--run"),
        ]
    )
    echoed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; print('\\n'.join(sys.argv[1:]))",
            *shlex.split(rendered),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert echoed == [
        "--special-token", "<|endoftext|>", "--special-token", "it's",
        "--set", 'model_preset="tiny"', "--set", "optim.lr=0.003",
        "--gold", "en=dir with space/en.csv",
        "--tokenizer", "bpe-500", "a b/tokenizer.json",
        "--entry", "bpe-500", "tok_train", "t.json", "b c.tsv",
        "--run", "bpe (tiny)", "m.jsonl", "r.json",
    ]  # fmt: skip


def test_planning_layer_does_not_import_snakemake():
    code = (
        "import sys, toklab.workflow.checks, toklab.workflow.plan, toklab.workflow.launch;"
        "print(any(m.split('.')[0] == 'snakemake' for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
