"""The trainer: learning, exact resume after a real signal, DDP equivalence, configs."""

from __future__ import annotations

import json
import signal

import pytest
import torch

from tests.conftest import REPO
from tests.helpers import TINY_MODEL, TINY_RUN, byte_corpus, run_ranks
from toklab.data.demo import DEMO_LANGUAGES, generate_documents
from toklab.data.packed_stream import PackedStream
from toklab.errors import ConfigError, DataError
from toklab.models.llama import load_checkpoint
from toklab.training import checkpoint as checkpoint_module
from toklab.training import trainer as trainer_module
from toklab.training.config import load_train_config
from toklab.training.data import WindowSampler
from toklab.training.lm_kinds import TokenLM
from toklab.training.trainer import EXIT_PREEMPTED, lr_multiplier, train

PRESETS = REPO / "resources" / "model_presets.yaml"


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    import itertools

    docs = [d.text for d in itertools.islice(generate_documents(DEMO_LANGUAGES, 0), 120)]
    root = tmp_path_factory.mktemp("lmdata")
    return byte_corpus(root, docs[:100], "train"), byte_corpus(root, docs[100:], "valid")


def config(*extra):
    return load_train_config([], [*TINY_RUN, *extra])


def losses(out_dir):
    return [
        json.loads(line)["loss"] for line in (out_dir / "metrics.jsonl").read_text().splitlines()
    ]


def test_packed_stream_keeps_every_token(corpora):
    train_prefix, _ = corpora
    stream = PackedStream(train_prefix, eos_id=256)
    tokens = stream.slice(0, len(stream))
    eos = (tokens == 256).nonzero()[0]
    assert len(eos) == stream.num_documents + 1 and eos[0] == 0
    assert bytes(tokens[tokens != 256].astype("uint8")) == bytes(stream.tokens)
    positions = stream.token_positions(0, len(stream.tokens))
    assert (tokens[positions] == stream.tokens).all()
    sampler = WindowSampler(stream, 32, seed=1)
    assert sampler.window(3).shape == (33,)
    assert (sampler.window(3) == WindowSampler(stream, 32, seed=1).window(3)).all()


def test_loss_decreases_and_validation_is_reported(corpora, tmp_path):
    train_prefix, valid_prefix = corpora
    train(
        config("max_steps=30", "eval_interval=30", "eval_windows=400"),
        train_prefix,
        tmp_path,
        valid_prefix=valid_prefix,
        presets_path=PRESETS,
    )
    values = losses(tmp_path)
    assert sum(values[-5:]) / 5 < sum(values[:5]) / 5 - 0.5
    last = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["step"] == 30 and last["tokens"] == 30 * 8 * 32  # batch 8 x seq_len 32
    assert 0 < last["val_loss"] < values[0]  # bits per byte: toklab.evaluation.bits_per_byte
    assert load_checkpoint(tmp_path).config.hidden_size == 32
    assert (tmp_path / "train_config.json").is_file()


# Snakemake deletes a failed job's outputs (metrics.jsonl among them) before it retries the job,
# and when the workflow is cancelled, possibly while the trainer is writing its checkpoint.
@pytest.mark.parametrize("metrics_deleted", [None, "after_exit", "before_checkpoint"])
def test_resume_after_signal_reproduces_uninterrupted_run(
    corpora, tmp_path, signal_at_batch, metrics_deleted
):
    train_prefix, valid_prefix = corpora
    straight = tmp_path / "straight"
    train(config(), train_prefix, straight, valid_prefix=valid_prefix, presets_path=PRESETS)

    interrupted = tmp_path / "interrupted"

    def delete_metrics():
        if metrics_deleted == "before_checkpoint":
            (interrupted / "metrics.jsonl").unlink()

    # during step 7 (two micro-batches per step)
    with (
        signal_at_batch(WindowSampler, 14, signal.SIGUSR1, before=delete_metrics),
        pytest.raises(SystemExit) as exit_info,
    ):
        train(config(), train_prefix, interrupted, valid_prefix=valid_prefix, presets_path=PRESETS)
    assert exit_info.value.code == EXIT_PREEMPTED
    state = torch.load(interrupted / "checkpoint" / "state.pt", weights_only=False)
    assert state["step"] == 7
    assert not (interrupted / "model.safetensors").exists()
    if metrics_deleted == "after_exit":
        (interrupted / "metrics.jsonl").unlink()
    train(config(), train_prefix, interrupted, valid_prefix=valid_prefix, presets_path=PRESETS)

    assert losses(interrupted) == losses(straight)
    a, b = load_checkpoint(straight).state_dict(), load_checkpoint(interrupted).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # the whole directory, the training state included, byte for byte
    files = sorted(p.relative_to(straight) for p in straight.rglob("*") if p.is_file())
    assert files == sorted(
        p.relative_to(interrupted) for p in interrupted.rglob("*") if p.is_file()
    )
    assert all((straight / f).read_bytes() == (interrupted / f).read_bytes() for f in files)


def test_ddp_two_gloo_processes_match_single_process(corpora, tmp_path):
    train_prefix, _ = corpora
    overrides = [
        *(f"model.{k}={v}" for k, v in TINY_MODEL.items()),
        "seq_len=32",
        "batch_size=8",
        "micro_batch_size=2",
        "max_steps=6",
        "log_interval=1",
        "checkpoint_interval=100",
        "optim.warmup_steps=2",
    ]
    single = tmp_path / "single"
    torch.set_num_threads(1)
    train(load_train_config([], overrides), train_prefix, single, presets_path=PRESETS)
    ddp = tmp_path / "ddp"
    run_ranks(2, train_prefix, ddp, overrides)
    assert losses(ddp) == pytest.approx(losses(single), rel=1e-4)
    a, b = load_checkpoint(single).state_dict(), load_checkpoint(ddp).state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)


def test_schedules():
    cosine = load_train_config(
        [], ["max_steps=100", "optim.warmup_steps=10", "optim.min_lr_ratio=0.1"]
    )
    assert lr_multiplier(0, cosine) == pytest.approx(0.1)
    assert lr_multiplier(9, cosine) == pytest.approx(1.0)
    assert lr_multiplier(100, cosine) == pytest.approx(0.1)
    wsd = load_train_config(
        [],
        [
            "max_steps=100",
            "optim.schedule=wsd",
            "optim.warmup_steps=10",
            "optim.decay_steps=20",
            "optim.min_lr_ratio=0.01",
        ],
    )
    assert lr_multiplier(50, wsd) == 1.0 and lr_multiplier(79, wsd) == 1.0
    assert lr_multiplier(90, wsd) == pytest.approx(0.505)
    assert lr_multiplier(100, wsd) == pytest.approx(0.01)


def test_config_layers_and_casts(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(
        "optim:\n  lr: 1.0e-3\n  betas: [0.9, 0.95]\ncompile: true\nmodel:\n  hidden_size: 64\n"
    )
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"optim": {"weight_decay": 0.1}, "max_steps": 700}))
    cfg = load_train_config(
        [base, extra], ["compile=false", "optim.lr=3e-4", "model.num_key_value_heads=2"]
    )
    assert cfg.compile is False and cfg.optim.lr == 3e-4 and cfg.optim.weight_decay == 0.1
    assert cfg.optim.betas == (0.9, 0.95) and cfg.max_steps == 700
    assert cfg.model == {"hidden_size": 64, "num_key_value_heads": 2}
    for bad, message in (
        ("compile=maybe", "expected true or false"),
        ("max_steps=1.5", "expected int"),
        ("optim.lrr=1", "unknown config key"),
        ("seq_len", "not key=value"),
    ):
        with pytest.raises(ConfigError, match=message):
            load_train_config([], [bad])


def test_bad_training_input(corpora, tmp_path):
    train_prefix, _ = corpora
    with pytest.raises(DataError, match="token array file not found"):
        train(config(), tmp_path / "missing", tmp_path / "out", presets_path=PRESETS)
    with pytest.raises(DataError, match="EOS id 99 collides with byte values"):
        train(
            config(),
            train_prefix,
            tmp_path / "out",
            presets_path=PRESETS,
            lm=TokenLM(100, 99),
        )
    with pytest.raises(DataError, match="EOS id 256 is outside the vocabulary of 256 tokens"):
        train(config(), train_prefix, tmp_path / "out", presets_path=PRESETS, lm=TokenLM(256))
    with pytest.raises(ConfigError, match="batch_size: 6 is not a multiple of micro_batch_size 4"):
        config("batch_size=6")
    with pytest.raises(DataError, match="exceeds the model's max_position_embeddings"):
        train(config("seq_len=128"), train_prefix, tmp_path / "out", presets_path=PRESETS)


assert trainer_module.EXIT_PREEMPTED == 75


def test_grad_clip_zero_clips_nothing(corpora, tmp_path):
    """T-Free's 7B does not clip: grad_clip 0 trains as a cap no gradient reaches."""
    train_prefix, _ = corpora
    for name, cap in (("none", "0"), ("huge", "1e9")):
        train(config("max_steps=3", f"optim.grad_clip={cap}"), train_prefix, tmp_path / name,
              presets_path=PRESETS)  # fmt: skip
    assert losses(tmp_path / "none") == losses(tmp_path / "huge")
    none, huge = (tmp_path / n / "model.safetensors" for n in ("none", "huge"))
    assert none.read_bytes() == huge.read_bytes()


def test_a_run_being_written_by_another_trainer_is_left_alone(corpora, tmp_path, monkeypatch):
    """train() holds the run's writer lock: while another trainer holds it, it writes nothing."""
    train_prefix, _ = corpora
    out = tmp_path / "out"
    monkeypatch.setattr(checkpoint_module, "WRITER_WAIT_S", 0.05)
    with checkpoint_module.writer_lock(checkpoint_module.RunPaths(out)):
        with pytest.raises(DataError, match=r"another trainer .* is still writing this run"):
            train(config(), train_prefix, out, presets_path=PRESETS)
        assert list(out.iterdir()) == []
    train(config("max_steps=2"), train_prefix, out, presets_path=PRESETS)
    assert (out / "model.safetensors").exists()
