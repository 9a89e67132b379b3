"""Exceptions that carry a one-line, user-facing explanation of what went wrong."""


class ToklabError(Exception):
    """Base class: the message names the file or setting and the problem, on one line."""


class ConfigError(ToklabError):
    """A configuration value is missing, of the wrong type, or out of range."""


class DataError(ToklabError):
    """Input data is missing, empty, corrupt, or too small for what was asked of it."""


class HubError(ToklabError):
    """The Hugging Face Hub is unreachable, or refused a request (token, rights, repo)."""
