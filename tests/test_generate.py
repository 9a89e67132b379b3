"""Sampling (toklab.generation, scripts/generate.py): the same tokens as transformers' generate."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from click.testing import CliRunner
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from tests.conftest import run_script
from tests.helpers import TINY_MODEL, script_module
from toklab.errors import ConfigError, DataError
from toklab.generation import generate, load_model, sample_next_token, top_p_filter
from toklab.models.llama import LlamaModel, ModelConfig, save_checkpoint
from toklab.tokenizers.byte_level import byte_level_tokenizer

EOS = 256
PROMPT = list(b"Once upon a time")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: the model is tiny, and on a busy machine more threads only contend."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny random Llama (logits spread wide enough for clear argmaxes) and a byte tokenizer."""
    directory = tmp_path_factory.mktemp("checkpoint")
    torch.manual_seed(0)
    # A wide initialisation: peaked, varied next-token distributions rather than uniform ones.
    model = LlamaModel(ModelConfig(vocab_size=257, initializer_range=0.3, **TINY_MODEL))
    save_checkpoint(model, directory)
    byte_level_tokenizer().save(directory)
    return directory


@pytest.fixture(scope="module")
def model(checkpoint):
    return load_model(checkpoint)


@pytest.fixture(scope="module")
def hf_model(checkpoint):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32).eval()


def hf_generate(hf_model, prompt, seed=None, **kwargs):
    """New ids from transformers' generate, EOS/PAD given explicitly (LlamaConfig's default
    eos_token_id is 2) and top_k off (the global default top_k=50 applies otherwise)."""
    if seed is not None:
        torch.manual_seed(seed)
    out = hf_model.generate(
        torch.tensor([prompt]), eos_token_id=EOS, pad_token_id=EOS, top_k=0, **kwargs
    )
    return out[0, len(prompt) :].tolist()


def test_greedy_equals_transformers(model, hf_model):
    ours = generate(model, PROMPT, max_new_tokens=30, temperature=0, eos_id=EOS)
    assert ours == hf_generate(hf_model, PROMPT, do_sample=False, max_new_tokens=30)
    assert len(ours) == 30  # no EOS on the way: the comparison covers every step


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sampling_equals_transformers(model, hf_model, seed):
    kwargs = dict(max_new_tokens=30, temperature=0.8, top_p=0.9)
    ours = generate(model, PROMPT, eos_id=EOS, seed=seed, **kwargs)
    theirs = hf_generate(hf_model, PROMPT, seed=seed, do_sample=True, **kwargs)
    assert ours == theirs
    # Not vacuous: the nucleus (about 60 of 257 tokens here, more than the top_k=50 that
    # transformers applies unless told otherwise) changes the samples.
    assert generate(model, PROMPT, eos_id=EOS, seed=seed, **{**kwargs, "top_p": 1.0}) != ours
    # A transformers model goes through generate() too (its output has .logits).
    assert generate(hf_model, PROMPT, eos_id=EOS, seed=seed, **kwargs) == theirs


def test_seed_and_generator_reproduce(model):
    kwargs = dict(max_new_tokens=20, temperature=1.0, top_p=0.95)
    first = generate(model, PROMPT, seed=5, **kwargs)
    assert generate(model, PROMPT, seed=5, **kwargs) == first
    with_generator = [
        generate(model, PROMPT, generator=torch.Generator().manual_seed(5), **kwargs)
        for _ in range(2)
    ]
    assert with_generator[0] == with_generator[1] == first  # a fresh generator = manual_seed
    with pytest.raises(ConfigError, match="not both"):
        generate(model, PROMPT, seed=1, generator=torch.Generator(), **kwargs)


def test_real_model_stops_at_eos_like_transformers(model, hf_model):
    """Call the token greedy decoding produces at step 4 'EOS': both stop right after it."""
    free = generate(model, PROMPT, max_new_tokens=30, temperature=0)
    eos = free[4]
    first = free.index(eos)  # 4, or earlier if that token came before
    ours = generate(model, PROMPT, max_new_tokens=30, temperature=0, eos_id=eos)
    assert ours == free[: first + 1] and ours[-1] == eos
    theirs = hf_model.generate(
        torch.tensor([PROMPT]), do_sample=False, max_new_tokens=30, eos_token_id=eos,
        pad_token_id=eos, top_k=0,
    )  # fmt: skip
    assert theirs[0, len(PROMPT) :].tolist() == ours


class Scripted(nn.Module):
    """Logits that make ``script[i]`` the certain choice at the i-th new position."""

    def __init__(self, prompt_length: int, script: list[int], vocab_size: int = 257) -> None:
        super().__init__()
        self.prompt_length, self.script, self.vocab_size = prompt_length, script, vocab_size

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        batch, length = input_ids.shape
        logits = torch.zeros(batch, length, self.vocab_size)
        logits[:, -1, self.script[length - self.prompt_length]] = 1e4
        return logits


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_stops_at_eos(temperature):
    scripted = Scripted(3, [5, 6, EOS, 7, 8, 9])
    ids = generate(scripted, [1, 2, 3], max_new_tokens=6, temperature=temperature, eos_id=EOS)
    assert ids == [5, 6, EOS]  # EOS is the last id returned
    no_stop = generate(scripted, [1, 2, 3], max_new_tokens=6, temperature=temperature, eos_id=None)
    assert no_stop == [5, 6, EOS, 7, 8, 9]
    assert generate(scripted, [1, 2, 3], max_new_tokens=2, eos_id=EOS) == [5, 6]
    assert generate(scripted, [1, 2, 3], max_new_tokens=0, eos_id=EOS) == []


def brute_force_top_p(logits: list[float], top_p: float) -> set[int]:
    """Kept tokens: those less probable than at most ``top_p`` of the mass, by definition."""
    probs = torch.tensor(logits, dtype=torch.float64).softmax(0).tolist()
    kept = {i for i, p in enumerate(probs) if sum(q for q in probs if q > p) < top_p}
    return kept or {max(range(len(probs)), key=probs.__getitem__)}


@settings(max_examples=200, deadline=None)
@given(
    # Distinct logits on a grid of 1/64 (exact in float32), so that no two probabilities tie.
    logits=st.lists(st.integers(-640, 640), min_size=1, max_size=40, unique=True).map(
        lambda values: [v / 64 for v in values]
    ),
    top_p=st.floats(1e-6, 1.0),
)
def test_top_p_filter_matches_brute_force(logits, top_p):
    probs = torch.tensor(logits, dtype=torch.float64).softmax(0)
    # Stay away from boundaries where float32 and float64 sums may round differently.
    margins = [abs(probs[probs > p].sum().item() - top_p) for p in probs]
    assume(min(margins) > 1e-4)
    filtered = top_p_filter(torch.tensor([logits]), top_p)[0]
    kept = {i for i, value in enumerate(filtered.tolist()) if value != float("-inf")}
    assert kept == brute_force_top_p(logits, top_p)
    # The kept logits are unchanged.
    assert [filtered[i].item() for i in sorted(kept)] == [logits[i] for i in sorted(kept)]


def test_top_p_filter_equals_transformers_warper():
    from transformers.generation.logits_process import TopPLogitsWarper

    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 257, generator=generator) * torch.rand(64, 1, generator=generator) * 8
    for top_p in (0.01, 0.3, 0.9, 0.999):
        expected = TopPLogitsWarper(top_p)(torch.zeros(64, 1, dtype=torch.long), logits)
        assert torch.equal(top_p_filter(logits, top_p), expected)


def test_top_p_keeps_at_least_one():
    logits = torch.tensor([[0.0, 5.0, 1.0, 4.9]])
    filtered = top_p_filter(logits, 1e-9)
    assert torch.isinf(filtered).tolist() == [[True, False, True, True]]
    # One token holds nearly all the mass: top_p=0.5 keeps only it; top_p=1 keeps everything.
    peaked = torch.tensor([[20.0, 0.0, 0.0]])
    assert torch.isfinite(top_p_filter(peaked, 0.5)).tolist() == [[True, False, False]]
    assert torch.isfinite(top_p_filter(peaked, 1.0)).all()
    for _ in range(5):
        assert sample_next_token(logits, temperature=1.0, top_p=1e-9).item() == 1


def test_greedy_takes_argmax():
    logits = torch.tensor([[0.5, 3.0, 3.0, -1.0]])
    assert sample_next_token(logits, temperature=0.0).item() == 1  # the first on ties, as argmax
    assert sample_next_token(logits, temperature=0.0, top_p=0.01).item() == 1


class Recorder(nn.Module):
    """A model wrapper that records the lengths it is run on."""

    def __init__(self, inner: LlamaModel) -> None:
        super().__init__()
        self.inner, self.config, self.lengths = inner, inner.config, []

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        self.lengths.append(input_ids.shape[1])
        return self.inner(input_ids)


def test_context_slides_past_max_positions(model):
    limit = model.config.max_position_embeddings
    recorder = Recorder(model)
    ids = generate(recorder, PROMPT, max_new_tokens=limit + 20, temperature=0.7, seed=0)
    assert len(ids) == limit + 20 and all(0 <= i < 257 for i in ids)
    assert recorder.lengths == [min(len(PROMPT) + i, limit) for i in range(limit + 20)]
    # The last step saw the window of the last `limit` tokens, and greedy would agree with it.
    sequence = PROMPT + generate(model, PROMPT, max_new_tokens=limit, temperature=0)
    window = torch.tensor([sequence[-limit:]])
    expected = int(model(window)[0, -1].argmax())
    assert generate(model, sequence, max_new_tokens=1, temperature=0) == [expected]
    # A prompt longer than the context, and a shorter explicit context.
    long_prompt = list(range(100))
    recorder.lengths.clear()
    assert len(generate(recorder, long_prompt, max_new_tokens=5, context_length=16)) == 5
    assert recorder.lengths == [16] * 5


class LengthsSeen:
    """Records, for every forward of a LlamaModel, the input length and the cache's length."""

    def __init__(self, model: LlamaModel) -> None:
        self.calls: list[tuple[int, int | None]] = []
        self.handle = model.register_forward_pre_hook(self.hook, with_kwargs=True)

    def hook(self, module, args, kwargs):
        cache = kwargs.get("cache")
        self.calls.append((args[0].shape[1], None if cache is None else cache.length))

    def __enter__(self) -> LengthsSeen:
        return self

    def __exit__(self, *exc) -> None:
        self.handle.remove()


def test_llama_decodes_with_kv_cache(model):
    """The prompt is prefilled, then one token per step; past the context, the window re-runs."""
    limit = model.config.max_position_embeddings
    with LengthsSeen(model) as seen:
        ids = generate(model, PROMPT, max_new_tokens=limit + 10, temperature=0)
    prompt = len(PROMPT)
    fill = limit - prompt + 1  # the steps until the sequence (before the step) fills the context
    expected = [(prompt, 0)] + [(1, prompt + i) for i in range(fill - 1)]
    expected += [(limit, 0)] * (limit + 10 - fill)  # sliding: an emptied cache, the whole window
    assert seen.calls == expected
    # The same tokens as the uncached loop (Recorder is no LlamaModel: it runs every window).
    assert ids == generate(Recorder(model), PROMPT, max_new_tokens=limit + 10, temperature=0)


@pytest.mark.parametrize(
    ("prompt", "kwargs"),
    [
        (PROMPT, dict(temperature=0)),
        (PROMPT, dict(temperature=0.8, top_p=0.9, seed=0)),
        (PROMPT, dict(temperature=1.0, seed=1)),
        (PROMPT, dict(temperature=1.0, seed=2, context_length=24)),
        (list(range(100)), dict(temperature=0.7, top_p=0.95, seed=3, context_length=16)),
    ],
)
def test_cached_generation_equals_uncached(model, prompt, kwargs):
    """Greedy and seeded sampling, through the sliding window: the tokens of the plain loop."""
    max_new_tokens = model.config.max_position_embeddings + 40
    cached = generate(model, prompt, max_new_tokens=max_new_tokens, **kwargs)
    uncached = generate(Recorder(model), prompt, max_new_tokens=max_new_tokens, **kwargs)
    assert len(cached) == max_new_tokens
    assert cached == uncached


def test_cached_generation_stops_at_eos(model):
    free = generate(model, PROMPT, max_new_tokens=20, temperature=0)
    eos = free[6]
    first = free.index(eos)
    assert (
        generate(model, PROMPT, max_new_tokens=20, temperature=0, eos_id=eos) == free[: first + 1]
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"temperature": -0.1}, ConfigError, "temperature: -0.1 is negative"),
        ({"temperature": float("nan")}, ConfigError, "^temperature: nan is not a number$"),
        ({"top_p": float("nan")}, ConfigError, "^top_p: nan is not a number$"),
        ({"top_p": 0.0}, ConfigError, r"top_p: 0.0 is not in \(0, 1\]"),
        ({"top_p": 1.5}, ConfigError, r"top_p: 1.5 is not in \(0, 1\]"),
        ({"max_new_tokens": -1}, ConfigError, "max_new_tokens: -1 is negative"),
        ({"context_length": 65}, ConfigError, "exceeds the model's max_position_embeddings 64"),
        ({"prompt_ids": []}, DataError, "the prompt has no tokens"),
        ({"prompt_ids": [1, 300]}, DataError, "token id 300 is outside the model's vocabulary"),
    ],
)
def test_bad_arguments(model, kwargs, error, message):
    arguments = {"prompt_ids": [1, 2], "max_new_tokens": 3, **kwargs}
    with pytest.raises(error, match=message):
        generate(model, **arguments)


def test_top_p_filter_refuses_nan():
    with pytest.raises(ConfigError, match=r"^top_p: nan is not a number$"):
        top_p_filter(torch.zeros(1, 4), float("nan"))


def test_a_prompt_longer_than_the_context_warns_how_many_tokens_are_dropped(model, caplog):
    limit = model.config.max_position_embeddings
    with caplog.at_level(logging.WARNING, logger="toklab.generation"):
        generate(model, list(range(limit)), max_new_tokens=2, temperature=0)  # fits: no warning
        assert not caplog.records
        generate(model, list(range(100)), max_new_tokens=2, temperature=0, context_length=16)
        generate(model, list(range(limit + 5)), max_new_tokens=2, temperature=0)
    assert [r.getMessage() for r in caplog.records] == [
        "the prompt has 100 tokens, more than the context of 16: its first 84 are dropped",
        f"the prompt has {limit + 5} tokens, more than the context of {limit}: its first 5 "
        "are dropped",
    ]


# ---------------------------------------------------------------------------------------------
# scripts/generate.py


@pytest.fixture(scope="module")
def cli():
    return script_module("generate.py").main


def invoke(cli, *args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_cli_json_equals_library(cli, checkpoint, model, tmp_path):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(checkpoint / "tokenizer.json"))
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("The cat\n\nA dog\n", encoding="utf-8")
    result = invoke(
        cli, "--checkpoint", checkpoint, "--prompt", "Once upon a time", "--prompt-file", prompts,
        "--max-new-tokens", 40, "--temperature", 1.0, "--top-p", 0.95, "--seed", 3,
        "--device", "cpu", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["prompt"] for r in records] == ["Once upon a time", "The cat", "A dog"]
    torch.manual_seed(3)  # the CLI seeds once, then samples the prompts in order
    for record in records:
        prompt_ids = list(record["prompt"].encode())
        assert record["prompt_ids"] == prompt_ids
        expected = generate(model, prompt_ids, max_new_tokens=40, top_p=0.95, eos_id=EOS)
        assert record["ids"] == expected
        stopped = expected[-1] == EOS
        assert record["finish_reason"] == ("eos" if stopped else "length")
        text_ids = expected[:-1] if stopped else expected
        assert record["completion"] == tokenizer.decode(text_ids, skip_special_tokens=False)


def test_cli_text_output_and_tokenizer_option(cli, checkpoint, model):
    result = invoke(
        cli, "--checkpoint", checkpoint, "--tokenizer", checkpoint / "tokenizer.json",
        "--prompt", "Hi", "--prompt", "Yo", "--max-new-tokens", 5, "--temperature", 0,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    completions = [
        bytes(generate(model, list(p.encode()), max_new_tokens=5, temperature=0)).decode(
            "utf-8", errors="replace"
        )
        for p in ("Hi", "Yo")
    ]
    assert result.stdout == f"Hi{completions[0]}\n\nYo{completions[1]}\n"


def test_cli_stops_at_eos(cli, checkpoint, model, tmp_path):
    """With a tokenizer whose EOS is a byte the model produces, the completion ends before it."""
    free = generate(model, PROMPT, max_new_tokens=10, temperature=0)
    eos_byte = free[3]
    tokenizer_dir = tmp_path / "tok"
    tokenizer_dir.mkdir()
    (tokenizer_dir / "tokenizer.json").write_text(
        (checkpoint / "tokenizer.json").read_text(encoding="utf-8"), encoding="utf-8"
    )
    token = byte_level_tokenizer().hf_tokenizer.id_to_token(eos_byte)
    (tokenizer_dir / "tokenizer_config.json").write_text(json.dumps({"eos_token": token}))
    args = ["--checkpoint", checkpoint, "--tokenizer", tokenizer_dir, "--prompt", bytes(PROMPT).decode(),
            "--max-new-tokens", 10, "--temperature", 0, "--json"]  # fmt: skip
    record = json.loads(invoke(cli, *args).stdout)
    first = free.index(eos_byte)
    assert record["ids"] == free[: first + 1] and record["finish_reason"] == "eos"
    assert record["completion"] == bytes(free[:first]).decode("utf-8", errors="replace")
    record = json.loads(invoke(cli, *args, "--no-eos-stop").stdout)
    assert record["ids"] == free and record["finish_reason"] == "length"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--prompt", "x", "--temperature", "-1"],
            "temperature: -1.0 is negative (0 means greedy decoding)",
        ),
        (["--prompt", "x", "--top-p", "0"], "top_p: 0.0 is not in (0, 1]"),
        (
            ["--prompt", ""],
            "prompt 1 ('') encodes to no tokens; give --start-with-eos to start it from EOS",
        ),
        (["--prompt", "x", "--temperature", "nan"], "temperature: nan is not a number"),
        (["--prompt", "x", "--top-p", "nan"], "top_p: nan is not a number"),
        (
            ["--prompt", "x", "--dictionary", "{tmp}/dictionary.tsv"],
            "{ckpt}: --dictionary applies only to T-Free checkpoints, and this is a token model",
        ),
        (
            ["--prompt", "x", "--scoring", "code", "--edge-weight", "2"],
            "{ckpt}: --scoring, --edge-weight apply only to T-Free checkpoints, and this is a "
            "token model",
        ),
        ([], "no prompt: give --prompt TEXT (repeatable) or --prompt-file FILE"),
        (
            ["--prompt", "x", "--tokenizer", "{tmp}"],
            "{tmp}/tokenizer.json: tokenizer file not found",
        ),
    ],
)
def test_cli_errors(cli, checkpoint, tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = CliRunner().invoke(cli, ["--checkpoint", str(checkpoint), *args])
    assert result.exit_code == 1
    message = message.replace("{tmp}", str(tmp_path)).replace("{ckpt}", str(checkpoint))
    assert result.stderr.strip().splitlines()[-1] == f"Error: {message}"


def test_cli_warns_when_the_prompt_is_cut(cli, checkpoint, model, caplog):
    limit = model.config.max_position_embeddings
    prompt = "a" * (limit + 7)
    with caplog.at_level(logging.WARNING, logger="toklab.generation"):
        result = invoke(cli, "--checkpoint", checkpoint, "--prompt", prompt, "--max-new-tokens",
                        2, "--temperature", 0, "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ids"] == generate(
        model, list(prompt.encode())[-limit:], max_new_tokens=2, temperature=0, eos_id=EOS
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"the prompt has {limit + 7} tokens, more than the context of {limit}: its first 7 "
        "are dropped"
    ]


def test_cli_missing_checkpoint_is_one_line(tmp_path):
    result = run_script("generate.py", "--checkpoint", str(tmp_path / "gone"), "--prompt", "x")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: {tmp_path / 'gone'}: checkpoint directory not found"
    ]
    assert result.stdout == ""


def test_cli_checkpoint_without_tokenizer(cli, tmp_path, model):
    save_checkpoint(model, tmp_path)
    result = CliRunner().invoke(cli, ["--checkpoint", str(tmp_path), "--prompt", "x"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: {tmp_path}: no tokenizer.json in the checkpoint directory; give --tokenizer"
    )
