"""The Hub's side of publishing: the token, repo ids, the calls, and their failures.

:func:`publish` makes the calls of a :class:`Publication` on an ``HfApi``-like object:
``create_repo`` (``exist_ok``), ``create_branch`` for a branch, then ``upload_folder`` of a
staged folder whose files link to the local ones, with ``delete_patterns=["*"]`` so that each
revision holds exactly what is published (a branch does not keep the final model it was made
from). The Hub skips files it already has and commits that change nothing, so publishing the
same files again sends nothing new. The token is read from ``HF_TOKEN`` only (:func:`hub_token`);
failures become one-line errors (:class:`~toklab.errors.HubError`, :func:`hub_errors`) that
never show it. ``huggingface_hub`` is imported lazily.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toklab.errors import ConfigError, HubError, ToklabError
from toklab.io import sha256_file

#: Where the token comes from: the environment, never the config, the command line or a log.
TOKEN_VARIABLE = "HF_TOKEN"
MAIN = "main"
CARD = "README.md"


@dataclass(frozen=True)
class Upload:
    """One commit to ``revision``: ``files`` (path in the repo → local file) and ``written``.

    ``written`` holds the files made here (path → text): the card, ``README.md``, always.
    """

    revision: str
    files: Mapping[str, Path]
    written: Mapping[str, str]
    commit_message: str

    @property
    def card(self) -> str:
        """The card (``README.md``)."""
        return self.written[CARD]

    @property
    def paths(self) -> list[str]:
        """Every path the commit writes, sorted."""
        return sorted([*self.files, *self.written])

    def sha256(self) -> str:
        """A digest of what the commit holds: each path with its contents' SHA-256."""
        contents = {path: sha256_file(source) for path, source in self.files.items()}
        for path, text in self.written.items():
            contents[path] = hashlib.sha256(text.encode("utf-8")).hexdigest()
        digest = hashlib.sha256()
        for path in sorted(contents):
            digest.update(f"{path}\0{contents[path]}\n".encode())
        return digest.hexdigest()


@dataclass(frozen=True)
class Publication:
    """A repo on the Hub and the commits that publish to it, in order."""

    repo_id: str
    repo_type: str
    private: bool
    uploads: tuple[Upload, ...]


# ---------------------------------------------------------------------------------------------
# Refusals before any call: the token and the repo id


def hub_token(environ: Mapping[str, str] | None = None) -> str:
    """The token in ``HF_TOKEN``; a one-line :class:`ConfigError` when it is not set."""
    token = (os.environ if environ is None else environ).get(TOKEN_VARIABLE, "").strip()
    if not token:
        raise ConfigError(
            f"{TOKEN_VARIABLE} is not set: publishing needs a Hugging Face token with write "
            f"access in the environment ({TOKEN_VARIABLE}=...; never in the config)"
        )
    return token


def check_repo_id(repo_id: str) -> str:
    """``repo_id`` (``namespace/name``) if the Hub accepts it; a one-line ConfigError if not."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        raise ConfigError(f"repo id {repo_id!r} is not valid on the Hub: give namespace/name")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise ConfigError(f"repo id {repo_id!r} is not valid on the Hub: {one_line(err)}") from None
    return repo_id


# ---------------------------------------------------------------------------------------------
# The calls


def hub_api(token: str) -> Any:
    """An ``HfApi`` with the token (the Hub's address from ``HF_ENDPOINT``, as usual)."""
    from huggingface_hub import HfApi

    return HfApi(token=token, library_name="toklab")


def one_line(err: BaseException, limit: int = 300) -> str:
    """An exception's message on one line, shortened, with the token (if any) blanked out."""
    text = " ".join(str(err).split()) or type(err).__name__
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if token:
        text = text.replace(token, "***")
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: The exceptions of an unreachable Hub besides the standard ones, by library (the root of
#: their module) and class name, matched along an exception's classes without importing the
#: library: requests' (huggingface_hub before 1.0), httpx's (after; some releases vendor it as
#: httpx2).
NETWORK_ERRORS = {
    "requests": ("ConnectionError", "Timeout"),
    "httpx": ("TransportError",),
    "httpx2": ("TransportError",),
}


def is_network_error(err: BaseException) -> bool:
    """Whether ``err`` says the Hub could not be reached (connection, timeout, transport)."""
    if isinstance(err, ConnectionError | TimeoutError):
        return True
    return any(
        cls.__name__ in NETWORK_ERRORS.get(cls.__module__.split(".")[0], ())
        for cls in type(err).__mro__
    )


def hub_failure(err: BaseException) -> str | None:
    """What a failed Hub call means, in one line; None for an exception that is not the Hub's."""
    from huggingface_hub import errors as hub

    text = one_line(err)
    offline = getattr(hub, "OfflineModeIsEnabled", None)
    if offline is not None and isinstance(err, offline):
        return "the Hub is unreachable: offline mode is on (HF_HUB_OFFLINE)"
    if isinstance(err, hub.HfHubHTTPError):
        status = getattr(getattr(err, "response", None), "status_code", None)
        if status == 401:
            return f"the Hub rejected the token in {TOKEN_VARIABLE} (HTTP 401)"
        if status == 403:
            return f"the token in {TOKEN_VARIABLE} may not write there (HTTP 403): {text}"
        return f"the Hub answered HTTP {status}: {text}"
    if is_network_error(err):
        return f"the Hub is unreachable: {text}"
    if isinstance(err, ValueError) and isinstance(err.__cause__, hub.HfHubHTTPError):
        return f"the Hub refused it: {text}"  # e.g. a card's metadata it does not accept
    return None


@contextlib.contextmanager
def hub_errors(repo_id: str) -> Iterator[None]:
    """The Hub's failures (unreachable, HTTP errors) as a one-line :class:`HubError`."""
    try:
        yield
    except ToklabError:
        raise
    except Exception as err:
        message = hub_failure(err)
        if message is None:
            raise
        raise HubError(f"{repo_id}: {message}") from None


@contextlib.contextmanager
def staged(upload: Upload) -> Iterator[Path]:
    """A temporary folder of the upload: links to its files at their paths, and the card."""
    with tempfile.TemporaryDirectory(prefix="toklab-publish-") as tmp:
        root = Path(tmp)
        for path, source in upload.files.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(Path(source).resolve())
        for path, text in upload.written.items():
            (root / path).write_text(text, encoding="utf-8")
        yield root


def publish(publication: Publication, api: Any) -> dict[str, Any]:
    """Create the repo (if new), then commit each upload; what was published, for the marker.

    The record holds the repo, and per commit its revision, the commit's URL and id as the Hub
    returned them, the paths and a digest of their contents (:meth:`Upload.sha256`).
    """
    digests = [upload.sha256() for upload in publication.uploads]
    commits = []
    with hub_errors(publication.repo_id):
        url = api.create_repo(
            publication.repo_id,
            repo_type=publication.repo_type,
            private=publication.private,
            exist_ok=True,
        )
        for upload, digest in zip(publication.uploads, digests, strict=True):
            if upload.revision != MAIN:
                api.create_branch(
                    publication.repo_id,
                    branch=upload.revision,
                    repo_type=publication.repo_type,
                    exist_ok=True,
                )
            with staged(upload) as folder:
                info = api.upload_folder(
                    repo_id=publication.repo_id,
                    folder_path=str(folder),
                    repo_type=publication.repo_type,
                    revision=upload.revision,
                    commit_message=upload.commit_message,
                    allow_patterns=upload.paths,
                    delete_patterns=["*"],
                )
            commits.append(
                {
                    "revision": upload.revision,
                    "commit_url": str(getattr(info, "commit_url", info)),
                    "oid": getattr(info, "oid", None),
                    "files": upload.paths,
                    "sha256": digest,
                }
            )
    return {
        "repo_id": publication.repo_id,
        "repo_type": publication.repo_type,
        "private": publication.private,
        "url": str(url),
        "commits": commits,
    }
