"""Publishing to the Hugging Face Hub: tokenizers, token datasets, LMs and their suites.

A :class:`~toklab.publishing.hub.Publication` is one repo (id, ``model`` or ``dataset``,
visibility) and its uploads (:class:`~toklab.publishing.hub.Upload`), each one commit to one
revision: ``main``, or one branch per kept checkpoint of a suite (``step-{N}``, as the checkpoints'
directories are named). Three modules, the last built on the other two:

* :mod:`~toklab.publishing.hub`: the token (``HF_TOKEN`` only), repo ids (the Hub's own
  validator), :func:`~toklab.publishing.hub.publish` (the calls on an ``HfApi``-like object)
  and the Hub's failures as one-line errors;
* :mod:`~toklab.publishing.cards`: the cards (YAML front matter, then markdown), pure functions;
* :mod:`~toklab.publishing.publications`: what each kind of target publishes, every input read
  and checked, every card rendered, before anything is sent.

``scripts/publish.py`` (rules in ``workflow/rules/publish.smk``) builds a publication, publishes
it and writes the record :func:`~toklab.publishing.hub.publish` returns as the target's marker.
"""

from toklab.publishing.hub import (
    CARD,
    MAIN,
    TOKEN_VARIABLE,
    Publication,
    Upload,
    check_repo_id,
    hub_api,
    hub_errors,
    hub_token,
    publish,
)
from toklab.publishing.publications import (
    delphi_publication,
    lm_publication,
    nanogpt_publication,
    suite_publication,
    tokenizer_publication,
)

__all__ = [
    "CARD",
    "MAIN",
    "TOKEN_VARIABLE",
    "Publication",
    "Upload",
    "check_repo_id",
    "delphi_publication",
    "hub_api",
    "hub_errors",
    "hub_token",
    "lm_publication",
    "nanogpt_publication",
    "publish",
    "suite_publication",
    "tokenizer_publication",
]
