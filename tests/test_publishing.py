"""Publishing to the Hub, offline: a recording stand-in for HfApi, the cards, the refusals."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from click.testing import CliRunner

from tests.helpers import script_module
from toklab import publishing
from toklab.errors import ConfigError, DataError, HubError
from toklab.publishing.cards import lm_card, render_card

TOKEN = "hf_secret_test_token"


class RecordingHub:
    """What an ``HfApi`` would be asked to do: the calls, and each upload's files and card."""

    def __init__(self, fail: BaseException | None = None, fail_on: str = "create_repo") -> None:
        self.calls: list[tuple[str, dict]] = []
        self.uploads: list[dict] = []
        self.fail, self.fail_on = fail, fail_on

    def _record(self, name: str, **arguments) -> None:
        if self.fail is not None and name == self.fail_on:
            raise self.fail
        self.calls.append((name, arguments))

    def create_repo(self, repo_id, *, repo_type=None, private=None, exist_ok=False):
        self._record(
            "create_repo", repo_id=repo_id, repo_type=repo_type, private=private, exist_ok=exist_ok
        )
        return f"https://huggingface.co/{repo_id}"

    def create_branch(self, repo_id, *, branch, repo_type=None, exist_ok=False):
        self._record(
            "create_branch", repo_id=repo_id, branch=branch, repo_type=repo_type, exist_ok=exist_ok
        )

    def upload_folder(self, *, repo_id, folder_path, repo_type=None, revision=None, **options):
        folder = Path(folder_path)
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        self._record(
            "upload_folder", repo_id=repo_id, repo_type=repo_type, revision=revision, **options
        )
        self.uploads.append(
            {
                "revision": revision,
                "files": files,
                "texts": {
                    name: (folder / name).read_text()
                    for name in files
                    if name.endswith((".md", ".json"))
                },
                "bytes": {name: (folder / name).read_bytes() for name in files},
            }
        )
        oid = f"{len(self.uploads):040x}"
        return SimpleNamespace(commit_url=f"https://huggingface.co/{repo_id}/commit/{oid}", oid=oid)


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def write(path: Path, content: str | bytes | dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, dict):
        content = json.dumps(content)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


# ---------------------------------------------------------------------------------------------
# Inputs: a tokenizer, exports, an LM with kept checkpoints, its evaluations

TOKENIZER_CONTEXT = {
    "corpus": "demo",
    "tokenizer": "bpe-1000",
    "family": "bpe",
    "subset": "tok_train",
    "source": "toklab's synthetic demo languages",
    "datasets": [],
    "license": "apache-2.0",
}
DATASET_CONTEXT = {
    "corpus": "demo",
    "tokenizer_corpus": "demo",
    "tokenization": "bpe-1000",
    "source": "the Hub dataset roneneldan/TinyStories",
    "datasets": ["roneneldan/TinyStories"],
    "license": None,
    "subsets": {"train": "lm_train", "val": "validation"},
}
LM_CONTEXT = {
    **DATASET_CONTEXT,
    "model": "tiny",
    "preset": "tiny",
    "train_subset": "lm_train",
    "valid_subset": "validation",
    "suite": True,
}


@pytest.fixture
def tokenizer_dir(tmp_path) -> Path:
    directory = tmp_path / "tokenizers" / "bpe-1000"
    for name in (
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "vocab.json",
        "merges.txt",
    ):
        write(directory / name, f"{name} contents")
    write(directory / "stochastok_splits.npz", b"another rule's output")
    return directory


@pytest.fixture
def lm_dir(tmp_path) -> Path:
    """A trained LM: the final model, its resumable checkpoint, two kept checkpoints."""
    directory = tmp_path / "lm" / "tiny"
    for base, step in ((directory, 200), (directory / "checkpoints" / "step-100", 100),
                       (directory / "checkpoints" / "step-200", 200)):  # fmt: skip
        write(base / "config.json", {"model_type": "llama", "step": step})
        write(base / "model.safetensors", f"weights at {step}".encode())
        write(base / "tokenizer.json", "tokenizer")
        write(base / "train_config.json", {"seq_len": 64, "optim": {"lr": 0.003}})
        write(base / "training_state.json", {"step": step, "tokens": 64 * step, "epoch": 0})
        write(base / "metrics.jsonl", '{"step": 1, "loss": 5.0}\n')
    for kept in ("step-100", "step-200"):
        write(directory / "checkpoints" / kept / "state.pt", b"optimizer")
    write(directory / "checkpoint" / "state.pt", b"optimizer")
    return directory


@pytest.fixture
def evaluation(tmp_path) -> Path:
    return write(
        tmp_path / "eval" / "tiny.json",
        {"bits_per_byte": 1.2345, "val_loss": 2.5, "tokens_per_byte": 0.4, "parameters": 1000},
    )


@pytest.fixture
def addition(tmp_path) -> Path:
    rows = [
        {"step": step, "split": split, "evaluation_tokenization": "base", "accuracy": accuracy}
        for step, accuracy in ((100, 0.25), (200, 0.5))
        for split in ("train", "validation")
    ]
    return write(tmp_path / "eval" / "addition.json", {"model_dir": "x", "rows": rows})


# ---------------------------------------------------------------------------------------------
# The calls each target makes


def test_tokenizer_is_one_commit_of_its_files_and_card(tokenizer_dir):
    publication = publishing.tokenizer_publication(
        "my-org/toklab-demo-bpe-1000", True, tokenizer_dir, TOKENIZER_CONTEXT
    )
    hub = RecordingHub()
    record = publishing.publish(publication, hub)
    files = [
        "README.md",
        "merges.txt",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.json",
    ]
    assert hub.calls == [
        (
            "create_repo",
            {"repo_id": "my-org/toklab-demo-bpe-1000", "repo_type": "model", "private": True,
             "exist_ok": True},
        ),
        (
            "upload_folder",
            {"repo_id": "my-org/toklab-demo-bpe-1000", "repo_type": "model", "revision": "main",
             "commit_message": "toklab: tokenizer bpe-1000 of corpus demo",
             "allow_patterns": files, "delete_patterns": ["*"]},
        ),
    ]  # fmt: skip
    assert hub.uploads[0]["files"] == files  # stochastok_splits.npz is not the tokenizer's
    assert hub.uploads[0]["bytes"]["vocab.json"] == b"vocab.json contents"
    card = hub.uploads[0]["texts"]["README.md"]
    assert front_matter(card) == {
        "license": "apache-2.0",
        "library_name": "transformers",
        "tags": ["toklab", "tokenizer-research", "tokenizer", "bpe"],
    }
    assert 'AutoTokenizer.from_pretrained("my-org/toklab-demo-bpe-1000")' in card
    assert record["repo_id"] == "my-org/toklab-demo-bpe-1000" and record["private"] is True
    assert record["url"] == "https://huggingface.co/my-org/toklab-demo-bpe-1000"
    (commit,) = record["commits"]
    assert commit["revision"] == "main" and commit["files"] == files
    assert commit["commit_url"].endswith(f"/commit/{commit['oid']}")
    assert commit["sha256"] == publication.uploads[0].sha256()


def test_digest_follows_the_contents(tokenizer_dir):
    def digest():
        return publishing.tokenizer_publication(
            "o/t", True, tokenizer_dir, TOKENIZER_CONTEXT
        ).uploads[0].sha256()  # fmt: skip

    before = digest()
    assert digest() == before
    (tokenizer_dir / "merges.txt").write_text("other merges")
    assert digest() != before


def test_delphi_export_is_a_datasets_repo_with_one_split_per_subset(tmp_path):
    splits = {}
    for split, samples, chunks in (("lm_train", 5, 2), ("validation", 2, 1)):
        directory = tmp_path / "delphi" / split
        names = [f"{split}-{i:05d}.parquet" for i in range(chunks)]
        for name in names:
            write(directory / name, f"parquet {name}".encode())
        write(directory / "meta.json", {"seq_len": 256, "samples": samples, "files": names})
        splits[split] = directory
    tokenizer = write(tmp_path / "tokenizer.json", "tokenizer")
    publication = publishing.delphi_publication(
        "my-org/toklab-demo-bpe-1000-delphi", False, splits, tokenizer, DATASET_CONTEXT
    )
    hub = RecordingHub()
    publishing.publish(publication, hub)
    assert [(name, args["repo_type"]) for name, args in hub.calls] == [
        ("create_repo", "dataset"),
        ("upload_folder", "dataset"),
    ]
    assert hub.calls[0][1]["private"] is False
    assert hub.uploads[0]["files"] == [
        "README.md",
        "data/lm_train-00000.parquet",
        "data/lm_train-00001.parquet",
        "data/validation-00000.parquet",
        "meta/lm_train.json",
        "meta/validation.json",
        "tokenizer.json",
    ]
    metadata = front_matter(hub.uploads[0]["texts"]["README.md"])
    assert metadata["configs"] == [
        {
            "config_name": "default",
            "data_files": [
                {"split": "lm_train", "path": "data/lm_train-*.parquet"},
                {"split": "validation", "path": "data/validation-*.parquet"},
            ],
        }
    ]
    assert metadata["source_datasets"] == ["roneneldan/TinyStories"]
    assert "| `lm_train` | 5 | 256 | 2 |" in hub.uploads[0]["texts"]["README.md"]


def test_nanogpt_bins_are_a_dataset_repo(tmp_path):
    splits = {
        "train": write(tmp_path / "train.bin", bytes(20)),
        "val": write(tmp_path / "val.bin", bytes(6)),
    }
    tokenizer = write(tmp_path / "tokenizer.json", "tokenizer")
    publication = publishing.nanogpt_publication(
        "my-org/toklab-demo-bpe-1000-nanogpt", True, splits, tokenizer, DATASET_CONTEXT
    )
    hub = RecordingHub()
    publishing.publish(publication, hub)
    upload = hub.uploads[0]
    assert upload["files"] == ["README.md", "tokenizer.json", "train.bin", "val.bin"]
    assert "| `train.bin` | lm_train | 10 |" in upload["texts"]["README.md"]
    assert "| `val.bin` | validation | 3 |" in upload["texts"]["README.md"]
    odd = {"train": write(tmp_path / "odd.bin", bytes(3))}
    with pytest.raises(DataError, match=r"odd.bin: 3 bytes is not"):
        publishing.nanogpt_publication("o/n", True, odd, tokenizer, DATASET_CONTEXT)


def test_lm_is_its_directory_evaluation_and_model_card(lm_dir, evaluation):
    publication = publishing.lm_publication(
        "my-org/toklab-demo-bpe-1000-tiny", True, lm_dir, evaluation, LM_CONTEXT
    )
    hub = RecordingHub()
    publishing.publish(publication, hub)
    assert [name for name, _ in hub.calls] == ["create_repo", "upload_folder"]
    upload = hub.uploads[0]
    # not the resumable checkpoint/ nor the kept checkpoints/: those are the suite's branches
    assert upload["files"] == [
        "README.md",
        "config.json",
        "evaluation.json",
        "metrics.jsonl",
        "model.safetensors",
        "tokenizer.json",
        "train_config.json",
        "training_state.json",
    ]
    assert upload["bytes"]["model.safetensors"] == b"weights at 200"
    assert json.loads(upload["texts"]["evaluation.json"])["bits_per_byte"] == 1.2345
    card = upload["texts"]["README.md"]
    metadata = front_matter(card)
    assert metadata["library_name"] == "transformers"
    assert metadata["datasets"] == ["roneneldan/TinyStories"]
    assert metadata["metrics"] == ["bits_per_byte"]
    (result,) = metadata["model-index"][0]["results"]
    assert result["metrics"] == [
        {"type": "bits_per_byte", "name": "Bits per byte", "value": 1.2345}
    ]
    assert result["dataset"]["split"] == "validation"
    assert "| bits per byte | 1.2345 |" in card
    assert "| optim.lr | 0.003 |" in card and "| seq_len | 64 |" in card
    assert "`step-{N}`" in card  # the run keeps checkpoints: where the suite's branches are


def test_suite_is_one_branch_per_kept_checkpoint_with_its_evaluation(lm_dir, evaluation, addition):
    publication = publishing.suite_publication(
        "my-org/toklab-demo-bpe-1000-tiny", True, lm_dir, evaluation, LM_CONTEXT,
        {"addition": addition},
    )  # fmt: skip
    hub = RecordingHub()
    record = publishing.publish(publication, hub)
    repo = "my-org/toklab-demo-bpe-1000-tiny"
    assert [(name, args.get("branch") or args.get("revision")) for name, args in hub.calls] == [
        ("create_repo", None),
        ("create_branch", "step-100"),
        ("upload_folder", "step-100"),
        ("create_branch", "step-200"),
        ("upload_folder", "step-200"),
    ]
    assert hub.calls[1][1] == {
        "repo_id": repo, "branch": "step-100", "repo_type": "model", "exist_ok": True
    }  # fmt: skip
    assert all(
        args["delete_patterns"] == ["*"] for name, args in hub.calls if name == "upload_folder"
    )
    files = [
        "README.md",
        "config.json",
        "evaluation.json",
        "metrics.jsonl",
        "model.safetensors",
        "tokenizer.json",
        "train_config.json",
        "training_state.json",
    ]  # no state.pt: the optimizer is not published
    assert [upload["files"] for upload in hub.uploads] == [files, files]
    assert hub.uploads[0]["bytes"]["model.safetensors"] == b"weights at 100"
    first = json.loads(hub.uploads[0]["texts"]["evaluation.json"])
    assert first["step"] == 100 and [row["accuracy"] for row in first["addition"]] == [0.25, 0.25]
    card = hub.uploads[1]["texts"]["README.md"]
    assert card.count("# toklab-demo-bpe-1000-tiny at step 200") == 1
    assert "| addition | train / base | 0.5 |" in card
    assert 'revision="step-200"' in card
    assert "model-index" not in front_matter(card)
    assert [commit["revision"] for commit in record["commits"]] == ["step-100", "step-200"]


def test_suite_without_checkpoint_evaluations_reports_the_final_model(lm_dir, evaluation):
    publication = publishing.suite_publication("o/m", True, lm_dir, evaluation, LM_CONTEXT)
    upload = publication.uploads[0]
    assert "evaluation.json" not in upload.paths
    assert "the final model, on `main`, has 1.2345 bits per byte" in upload.card


# ---------------------------------------------------------------------------------------------
# Refusals: before any call, one line each


def test_token_comes_from_the_environment_only():
    with pytest.raises(ConfigError, match=r"^HF_TOKEN is not set: "):
        publishing.hub_token({})
    with pytest.raises(ConfigError, match=r"HF_TOKEN"):
        publishing.hub_token({"HF_TOKEN": "  "})
    assert publishing.hub_token({"HF_TOKEN": " hf_x\n"}) == "hf_x"


@pytest.mark.parametrize(
    ("repo_id", "problem"),
    [
        ("toklab-demo-bpe-1000", "give namespace/name"),
        ("a/b/c", "give namespace/name"),
        ("my--org/toklab", "Cannot have -- or .."),
        ("my-org/-toklab", "alphanumeric"),
        ("my-org/" + "x" * 97, "length is 96"),
    ],
)
def test_invalid_repo_ids_are_one_line(repo_id, problem, tokenizer_dir):
    with pytest.raises(ConfigError) as error:
        publishing.tokenizer_publication(repo_id, True, tokenizer_dir, TOKENIZER_CONTEXT)
    message = str(error.value)
    assert message.startswith(f"repo id {repo_id!r} is not valid on the Hub") and problem in message
    assert "\n" not in message
    assert publishing.check_repo_id("my-org/toklab-demo-bpe-1000-stochastok0.1-tiny")


def test_lm_without_bits_per_byte_is_refused(lm_dir, tmp_path):
    with pytest.raises(DataError, match=r"tiny.json: the LM's evaluation is missing"):
        publishing.lm_publication("o/m", True, lm_dir, tmp_path / "tiny.json", LM_CONTEXT)
    nan = write(tmp_path / "nan.json", '{"bits_per_byte": NaN}')
    with pytest.raises(DataError, match=r"nan.json: no finite bits_per_byte \(nan\)"):
        publishing.lm_publication("o/m", True, lm_dir, nan, LM_CONTEXT)


def test_checkpoint_without_its_evaluation_is_refused(lm_dir, evaluation, tmp_path):
    rows = [{"step": 200, "benchmark": "arc_easy", "accuracy": 0.3}]
    partial = write(tmp_path / "benchmarks.json", {"rows": rows})
    with pytest.raises(DataError) as error:
        publishing.suite_publication(
            "o/m", True, lm_dir, evaluation, LM_CONTEXT, {"benchmarks": partial}
        )
    assert str(error.value) == (
        f"{partial}: the benchmarks evaluation has no rows for checkpoint step-100 of {lm_dir}; "
        "every published checkpoint needs its evaluation"
    )
    with pytest.raises(DataError, match=r"the addition evaluation of the checkpoints is missing"):
        publishing.suite_publication(
            "o/m", True, lm_dir, evaluation, LM_CONTEXT, {"addition": tmp_path / "gone.json"}
        )


def test_suite_without_kept_checkpoints_is_refused(lm_dir, evaluation):
    for kept in (lm_dir / "checkpoints").iterdir():
        for path in kept.iterdir():
            path.unlink()
        kept.rmdir()
    with pytest.raises(DataError, match=r"checkpoints: no kept checkpoints"):
        publishing.suite_publication("o/m", True, lm_dir, evaluation, LM_CONTEXT)


def http_error(status: int) -> Exception:
    """huggingface_hub's HTTP error with a response of ``status`` (httpx's from 1.0, requests')."""
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError

    message = "Invalid credentials in Authorization header"
    if int(huggingface_hub.__version__.split(".")[0]) >= 1:
        import httpx

        request = httpx.Request("POST", "https://huggingface.co/api/repos/create")
        return HfHubHTTPError(message, response=httpx.Response(status, request=request))
    import requests

    response = requests.Response()
    response.status_code = status
    return HfHubHTTPError(message, response=response)


def refused_card() -> ValueError:
    """What HfApi raises when the Hub refuses a card's metadata."""
    try:
        raise ValueError("Invalid metadata in README.md.\n- bad license") from http_error(400)
    except ValueError as err:
        return err


def failure(kind: str) -> Exception:
    import httpx
    import requests
    from huggingface_hub.errors import OfflineModeIsEnabled

    return {
        "connection": lambda: ConnectionError(f"Failed to resolve huggingface.co with {TOKEN}"),
        "timeout": lambda: TimeoutError("timed out"),
        "requests": lambda: requests.exceptions.ConnectionError("Max retries exceeded"),
        "httpx": lambda: httpx.ConnectError("[Errno 111] Connection refused"),
        "offline": lambda: OfflineModeIsEnabled("offline"),
        "401": lambda: http_error(401),
        "500": lambda: http_error(500),
        "card": refused_card,
    }[kind]()


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("connection", "the Hub is unreachable: Failed to resolve huggingface.co with ***"),
        ("timeout", "the Hub is unreachable: timed out"),
        ("requests", "the Hub is unreachable: Max retries exceeded"),
        ("httpx", "the Hub is unreachable: [Errno 111] Connection refused"),
        ("offline", "the Hub is unreachable: offline mode is on (HF_HUB_OFFLINE)"),
        ("401", "the Hub rejected the token in HF_TOKEN (HTTP 401)"),
        ("500", "the Hub answered HTTP 500: Invalid credentials in Authorization header"),
        ("card", "the Hub refused it: Invalid metadata in README.md. - bad license"),
    ],
)
def test_hub_failures_are_one_line(kind, message, tokenizer_dir, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)  # blanked out of messages
    publication = publishing.tokenizer_publication("o/t", True, tokenizer_dir, TOKENIZER_CONTEXT)
    hub = RecordingHub(fail=failure(kind), fail_on="upload_folder")
    with pytest.raises(HubError) as error:
        publishing.publish(publication, hub)
    assert str(error.value) == f"o/t: {message}"
    assert [name for name, _ in hub.calls] == ["create_repo"]


def test_the_real_client_on_a_closed_port_is_an_unreachable_hub(tokenizer_dir):
    """huggingface_hub's own exception (requests', httpx's or a vendored httpx's) is recognised."""
    import socket

    from huggingface_hub import HfApi

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    api = HfApi(endpoint=f"http://127.0.0.1:{port}", token=TOKEN)
    publication = publishing.tokenizer_publication("o/t", True, tokenizer_dir, TOKENIZER_CONTEXT)
    with pytest.raises(HubError, match=r"^o/t: the Hub is unreachable: ") as error:
        publishing.publish(publication, api)
    assert "\n" not in str(error.value) and TOKEN not in str(error.value)


def test_other_exceptions_are_not_taken_for_the_hubs():
    with pytest.raises(KeyError), publishing.hub_errors("o/t"):
        raise KeyError("a bug")


# ---------------------------------------------------------------------------------------------
# The script: token, publication, calls, marker


@pytest.fixture
def cli(monkeypatch):
    """publish.py's CLI with the Hub replaced by a recording stand-in (``cli.hubs``)."""
    module = script_module("publish.py")
    hubs = []

    def hub_api(token):
        assert token == TOKEN
        hubs.append(RecordingHub())
        return hubs[-1]

    monkeypatch.setattr(publishing, "hub_api", hub_api)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    return SimpleNamespace(main=module.cli, hubs=hubs)


def invoke(cli, *args):
    return CliRunner().invoke(cli.main, [str(arg) for arg in args])


def tokenizer_args(directory, marker, repo_id="my-org/toklab-demo-bpe-1000"):
    card = json.dumps(TOKENIZER_CONTEXT)
    return ("tokenizer", "--directory", directory, "--repo-id", repo_id, "--public",
            "--card-json", card, "--marker", marker)  # fmt: skip


def test_script_publishes_and_writes_the_marker_last(cli, tokenizer_dir, tmp_path):
    marker = tmp_path / "published" / "bpe-1000.json"
    result = invoke(cli, *tokenizer_args(tokenizer_dir, marker))
    assert result.exit_code == 0, result.output
    (hub,) = cli.hubs
    assert hub.calls[0][1]["private"] is False
    record = json.loads(marker.read_text())
    assert record["commits"][0]["files"] == hub.uploads[0]["files"]
    assert TOKEN not in marker.read_text() and TOKEN not in result.output


def test_script_without_token_sends_nothing(cli, tokenizer_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    marker = tmp_path / "marker.json"
    result = invoke(cli, *tokenizer_args(tokenizer_dir, marker))
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error: HF_TOKEN is not set: ")
    assert cli.hubs == [] and not marker.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--repo-id", "my-org/bad..name"), "Error: repo id 'my-org/bad..name' is not valid"),
        (("--card-json", "{nope"), "Error: --card-json is not JSON (Expecting property name"),
    ],
)
def test_script_refusals_are_one_line_and_send_nothing(cli, tokenizer_dir, tmp_path, args, message):
    marker = tmp_path / "marker.json"
    arguments = list(tokenizer_args(tokenizer_dir, marker))
    arguments[arguments.index(args[0]) + 1] = args[1]
    result = invoke(cli, *arguments)
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(message)
    assert cli.hubs == [] and not marker.exists()


def test_script_suite_refuses_a_checkpoint_without_evaluation(cli, lm_dir, evaluation, tmp_path):
    partial = write(tmp_path / "addition.json", {"rows": [{"step": 100, "accuracy": 0.1}]})
    marker = tmp_path / "suite.json"
    result = invoke(
        cli, "suite", "--model-dir", lm_dir, "--evaluation", evaluation,
        "--checkpoint-evaluation", "addition", partial, "--repo-id", "o/m",
        "--card-json", json.dumps(LM_CONTEXT), "--marker", marker,
    )  # fmt: skip
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert "no rows for checkpoint step-200" in line
    assert cli.hubs == [] and not marker.exists()


def test_script_unreachable_hub_leaves_no_marker(tokenizer_dir, tmp_path, monkeypatch):
    module = script_module("publish.py")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(
        publishing, "hub_api", lambda token: RecordingHub(fail=ConnectionError("no route to host"))
    )
    marker = tmp_path / "marker.json"
    result = CliRunner().invoke(module.cli, [str(a) for a in tokenizer_args(tokenizer_dir, marker)])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: my-org/toklab-demo-bpe-1000: the Hub is unreachable: no route to host"
    ]
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------
# Cards


def test_render_card_is_front_matter_then_markdown():
    card = render_card({"license": "mit", "tags": ["a", "b"]}, "\n# Title\n\ntext\n\n")
    assert card == "---\nlicense: mit\ntags:\n- a\n- b\n---\n\n# Title\n\ntext\n"


def test_lm_card_renders_every_part():
    evaluation = {"bits_per_byte": 1.5, "val_loss": 2.0, "parameters": 123456}
    card = lm_card(
        "org/toklab-c-bpe-500-m",
        {**LM_CONTEXT, "corpus": "c", "tokenizer_corpus": "other", "tokenization": "bpe-500",
         "datasets": [], "license": "mit", "suite": False},
        evaluation,
        {"wandb": "a|b", "optim": {"lr": 1e-3}},
    )  # fmt: skip
    metadata = front_matter(card)
    assert list(metadata) == [
        "license", "library_name", "pipeline_tag", "tags", "metrics", "model-index"
    ]  # fmt: skip
    assert metadata["model-index"][0]["results"][0]["dataset"] == {
        "type": "c", "name": "c (validation)", "split": "validation"
    }  # fmt: skip
    assert "tokenized by `bpe-500` of corpus `other`" in card
    assert "| parameters | 123,456 |" in card and "| wandb | a\\|b |" in card
    assert "## Checkpoints" not in card
