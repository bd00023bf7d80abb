"""Exceptions raised at charsmith's boundaries, and the category of its warnings.

The exceptions are all ``ValueError`` subclasses, so callers may catch either. Messages are one line:
what is wrong, then what to do about it.

Messages name the library's parameters, never a face's spelling of them: a parameter in a
message is written in backquotes, alone or with a value (```hidden```, ```mode=text```), and
``param`` holds the one the error is about (None if none). The command line shows
``e.render(...)`` with its options (``--hidden``, ``--mode text``), the web API its JSON fields.
"""

import re
from collections.abc import Callable

__all__ = ["CategoryError", "CharsmithError", "CharsmithWarning", "CheckpointError", "ConstraintError", "DataError",
           "InputError", "ResourceError", "RunLockedError", "TimeLimitError"]


_NAMED = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)(?:=([^`]*))?`")


class CharsmithError(ValueError):
    """Base class of charsmith's own errors. ``param``: the parameter the error is about
    (a keyword of the function called, e.g. "temperature"), or None."""

    param: str | None

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param

    def __reduce__(self) -> tuple[object, ...]:  # param survives pickling (errors cross process pools)
        return (_rebuild, (type(self), str(self), self.param))

    @property
    def params(self) -> list[str]:
        """Every parameter the message names (in backquotes), in order."""
        return [m[1] for m in _NAMED.finditer(str(self))]

    def render(self, name: Callable[[str, str | None], str]) -> str:
        """The message with each parameter named in it written as ``name(parameter, value)``
        (value: the text after ``=``, or None)."""
        return _NAMED.sub(lambda m: name(m[1], m[2]), str(self))


def plain(e: BaseException) -> str:
    """``e``'s message without the backquotes around the names in it: for quoting an error
    inside another about a file, whose fields are no parameter of the call."""
    return e.render(lambda name, value: name if value is None else f"{name}={value}") if isinstance(
        e, CharsmithError) else str(e)


def _rebuild(cls: type[CharsmithError], message: str, param: str | None) -> CharsmithError:
    e = cls.__new__(cls)
    CharsmithError.__init__(e, message, param=param)
    return e


class DataError(CharsmithError):
    """A training or evaluation file cannot be used as it is."""


class CheckpointError(CharsmithError):
    """A checkpoint directory is missing, corrupt, or does not fit the model."""


class RunLockedError(CheckpointError):
    """Another process is writing to the same run directory."""


class ResourceError(CharsmithError):
    """A request needs more memory than this machine has available."""


class CharsmithWarning(UserWarning):
    """Something charsmith ignored and went on without (the CLI prints it as one line)."""


class ConstraintError(CharsmithError):
    """Generation constraints that are malformed, unsupported or impossible to meet."""


class InputError(CharsmithError):
    """An argument a model cannot take: an option out of its range, or a prefix, prompt or
    item with characters the model never saw."""


class TimeLimitError(CharsmithError):
    """Work given a time limit (``timeout=``) ran past it and was stopped."""


class CategoryError(CharsmithError):
    """A category or blend that the model does not have or that cannot be read."""
