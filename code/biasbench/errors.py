"""User-facing errors.

Anything the user can fix (a wrong path, a bad flag, a corrupt file) raises a
subclass of ``UserError`` with a message that says what was found, what was
expected and how to fix it. The command-line entry points print that message on
one line and exit with status 2, instead of a traceback.
"""

import contextlib
import sys
import warnings


class UserError(Exception):
    """An error caused by input the user controls; the message is shown as is."""


class DatasetError(UserError):
    """A dataset path, layout or file is not what the benchmark expects."""


class IncompleteDataset(DatasetError):
    """A dataset's layout check failed: ``finding`` says what was found against what was expected, without the
    hint to relax the check (``prepare_data.py`` never gives that hint for a dataset it extracted itself)."""

    def __init__(self, message: str, finding: str):
        super().__init__(message)
        self.finding = finding


class ModelError(UserError):
    """A model name, checkpoint or download is not usable."""


class ConfigError(UserError):
    """A flag or option has an invalid value."""


class ResultsError(UserError):
    """The results log or table is unreadable or inconsistent."""


class DownloadError(UserError):
    """A download failed, or its file is not the one recorded; ``reason`` is the cause alone (e.g. "HTTP 404
    Not Found for URL"), for callers that word the message their own way."""

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason or message


class InputWarning(UserWarning):
    """Part of a user's file was damaged and skipped (a torn results-log line, a damaged sweep state file);
    every command prints it as one line ``warning: <message>`` (``one_line_warnings``)."""


@contextlib.contextmanager
def one_line_warnings():
    """Within: an ``InputWarning`` is printed as ``warning: <message>`` on stderr, not as Python's
    ``file:line: Category: message`` plus the source line; other warnings as Python prints them."""
    python_shows = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, InputWarning):
            print(f"warning: {message}", file=sys.stderr)
        else:
            python_shows(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def did_you_mean(word: str, choices, n: int = 3, cutoff: float = 0.6) -> str:
    """`` (did you mean a, b?)`` naming the ``n`` choices closest to ``word`` (difflib's similarity of at
    least ``cutoff``), or "" when none is close: the hint every "unknown name" message ends with."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=n, cutoff=cutoff)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def exit_status(err: BaseException) -> int:
    """How every command ends on a user error: ``error: <message>`` on one line of stderr, exit status 2
    (argparse's own for bad flags), never a traceback (docs/troubleshooting.md)."""
    print(f"error: {err}", file=sys.stderr)
    return 2
