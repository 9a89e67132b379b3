import errno
import fcntl
import json
import logging
import os
import random
import socket
import threading
import time

import numpy as np
import pytest
import torch

from tests.helpers import TINY_MODEL
from toklab.errors import DataError
from toklab.models.llama import LlamaModel, ModelConfig
from toklab.training.checkpoint import (
    RunPaths,
    has_state,
    load_state,
    logged_metrics,
    save_state,
    writer_lock,
)


def parts(seed, **model):
    torch.manual_seed(seed)
    net = LlamaModel(ModelConfig(vocab_size=257, **{**TINY_MODEL, **model}))
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 / (s + 1))
    return net, optimizer, scheduler


def trained_parts(seed):
    net, optimizer, scheduler = parts(seed)
    net(torch.randint(0, 257, (2, 8))).sum().backward()
    optimizer.step()
    scheduler.step()
    return net, optimizer, scheduler


def test_round_trip_restores_everything(tmp_path):
    net, optimizer, scheduler = trained_parts(0)
    records = [json.dumps({"step": 1, "loss": 5.0}), json.dumps({"step": 2, "loss": 4.0})]
    directory = tmp_path / "checkpoint"
    assert not has_state(directory)
    save_state(directory, net, optimizer, scheduler, 2, records)
    assert has_state(directory)
    assert sorted(p.name for p in directory.iterdir()) == [
        "config.json",
        "metrics.jsonl",
        "model.safetensors",
        "state.pt",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]  # nothing left over
    expected_draws = (random.random(), np.random.rand(), torch.rand(1))

    fresh, fresh_optimizer, fresh_scheduler = parts(1)
    step = load_state(directory, fresh, fresh_optimizer, fresh_scheduler, torch.device("cpu"))
    assert step == 2
    assert (random.random(), np.random.rand(), torch.rand(1)) == expected_draws
    a, b = net.state_dict(), fresh.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert fresh_scheduler.state_dict() == scheduler.state_dict()
    saved, restored = optimizer.state_dict()["state"], fresh_optimizer.state_dict()["state"]
    assert all(torch.equal(saved[0][k], restored[0][k]) for k in saved[0])
    assert logged_metrics(directory, tmp_path / "absent.jsonl", 1) == records[:1]


def test_a_new_checkpoint_replaces_the_old_one(tmp_path):
    net, optimizer, scheduler = trained_parts(0)
    directory = tmp_path / "checkpoint"
    save_state(directory, net, optimizer, scheduler, 1, [])
    (directory / "stray").write_text("from the old checkpoint")
    (tmp_path / ".checkpoint.tmp").mkdir()  # a killed save left its staging directory
    (tmp_path / ".checkpoint.tmp" / "junk").write_text("x")
    save_state(directory, net, optimizer, scheduler, 5, [])
    assert torch.load(directory / "state.pt", weights_only=False)["step"] == 5
    assert not (directory / "stray").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def test_refuses_another_model_config(tmp_path):
    net, optimizer, scheduler = trained_parts(0)
    save_state(tmp_path / "checkpoint", net, optimizer, scheduler, 1, [])
    other = parts(0, hidden_size=64)
    with pytest.raises(DataError, match="checkpoint: checkpoint was trained with another model"):
        load_state(tmp_path / "checkpoint", *other, torch.device("cpu"))


def test_logged_metrics_of_older_checkpoints_come_from_the_run(tmp_path):
    directory = tmp_path / "checkpoint"
    directory.mkdir()
    run = tmp_path / "metrics.jsonl"
    run.write_text("".join(json.dumps({"step": s}) + "\n" for s in (1, 2, 3)))
    assert logged_metrics(directory, run, 2) == ['{"step": 1}', '{"step": 2}']
    assert logged_metrics(directory, tmp_path / "none.jsonl", 2) == []


class _Payload:
    """Unpickling this would run ``os.system``: a state file must never be able to."""

    def __reduce__(self):
        import os

        return (os.system, ("touch pwned",))


def test_a_state_file_with_a_pickled_callable_is_refused(tmp_path, monkeypatch):
    net, optimizer, scheduler = trained_parts(0)
    directory = tmp_path / "checkpoint"
    save_state(directory, net, optimizer, scheduler, 1, [])
    state = torch.load(directory / "state.pt", weights_only=True)  # plain data: loads safely
    assert set(state) == {"step", "optimizer", "scheduler", "rng"}
    torch.save({**state, "rng": _Payload()}, directory / "state.pt")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=r"state\.pt: not a safe toklab training state") as error:
        load_state(directory, *parts(1), torch.device("cpu"))
    assert "\n" not in str(error.value)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_corrupt_state_file_is_refused(tmp_path, damage):
    net, optimizer, scheduler = trained_parts(0)
    directory = tmp_path / "checkpoint"
    save_state(directory, net, optimizer, scheduler, 1, [])
    path = directory / "state.pt"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not a checkpoint")
    with pytest.raises(DataError, match=r"state\.pt: not a safe toklab training state"):
        load_state(directory, *parts(1), torch.device("cpu"))


def test_a_second_writer_of_a_run_waits_for_the_first(tmp_path, caplog):
    """The writer lock: the second trainer logs the holder, waits, and goes on once it ends."""
    paths = RunPaths(tmp_path / "run")
    holding, released = threading.Event(), threading.Event()

    def first_trainer():
        with writer_lock(paths) as held:
            assert held
            holding.set()
            time.sleep(0.3)
            released.set()

    first = threading.Thread(target=first_trainer)
    first.start()
    holding.wait(10)
    with caplog.at_level(logging.INFO), writer_lock(paths, poll_s=0.02) as held:
        assert held and released.is_set()
        # the file it waited on was deleted by the first; it holds the one at the path now
        assert paths.lock.read_text() == f"{os.getpid()}@{socket.gethostname()}\n"
    first.join()
    assert not paths.lock.exists()
    assert "another trainer" in caplog.text and f"{os.getpid()}@" in caplog.text


def test_a_writer_that_never_ends_is_named_after_the_wait(tmp_path):
    paths = RunPaths(tmp_path / "run")
    with (
        writer_lock(paths),
        pytest.raises(DataError) as error,
        writer_lock(paths, wait_s=0.05, poll_s=0.01),
    ):
        pass
    message = str(error.value)
    assert "\n" not in message and str(paths.out_dir) in message
    assert f"another trainer ({os.getpid()}@{socket.gethostname()}" in message


def test_the_lock_of_an_ended_writer_is_free(tmp_path):
    """A holder that exited (however: the kernel drops its locks) leaves only its file."""
    paths = RunPaths(tmp_path / "run")
    paths.lock.write_text("12345@elsewhere\n")
    fd = os.open(paths.lock, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.close(fd)  # what a killed process's exit does
    with writer_lock(paths, wait_s=0) as held:
        assert held and paths.lock.read_text().startswith(f"{os.getpid()}@")
    assert not paths.lock.exists()


def test_a_filesystem_without_locks_runs_unguarded(tmp_path, monkeypatch, caplog):
    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with caplog.at_level(logging.WARNING), writer_lock(RunPaths(tmp_path / "run")) as held:
        assert not held
    assert "the filesystem has no locks (No locks available)" in caplog.text
