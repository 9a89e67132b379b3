import json
import random

import numpy as np
import pytest
import torch

from tests.helpers import TINY_MODEL
from toklab.errors import DataError
from toklab.models.llama import LlamaModel, ModelConfig
from toklab.training.checkpoint import has_state, load_state, logged_metrics, save_state


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
