"""Exceptions raised at charsmith's boundaries, and the category of its warnings.

The exceptions are all ``ValueError`` subclasses, so callers may catch either. Messages are one line:
what is wrong, then what to do about it.
"""

__all__ = ["CategoryError", "CharsmithError", "CharsmithWarning", "CheckpointError", "ConstraintError", "DataError",
           "InputError", "ResourceError", "RunLockedError", "TimeLimitError"]


class CharsmithError(ValueError):
    """Base class of charsmith's own errors."""


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
