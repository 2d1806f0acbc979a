"""The errors a model file can raise: malformed files and files refused for safety."""

from __future__ import annotations

import os
from typing import Any


class ModelFileError(ValueError):
    """A model or weights file is malformed, truncated or does not fit the model.

    Args:
        path: the file concerned.
        entry: the part of the file at fault (an archive member, a config entry, a
            dataset path ...), or None when the file as a whole is at fault.
        problem: what is wrong, in words.
    """

    def __init__(self, path: Any, entry: str | None, problem: str) -> None:
        self.path = os.fspath(path) if path is not None else "<memory>"
        self.entry = entry
        self.problem = problem
        where = f"'{self.path}'" + (f", entry '{entry}'" if entry else "")
        super().__init__(f"{type(self).__name__} in {where}: {problem}")

    def __reduce__(self):
        return type(self), (self.path, self.entry, self.problem)


class ModelFileNotFoundError(ModelFileError, FileNotFoundError):
    """The model file does not exist: a ValueError, as Keras raises, and a
    FileNotFoundError, as `open` would."""


class UnsafeModelError(ModelFileError):
    """A model file asks for something a data file must never do (run code, escape paths ...).

    Loading stops before anything named by the file is imported, executed or allocated.
    """


def refuse_pickle(data: bytes, path: Any) -> None:
    """Raises UnsafeModelError for a Python pickle (protocol 2+), whatever its file name."""
    if len(data) > 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        raise UnsafeModelError(
            path, None, "this is a Python pickle, not a model file; convolve never unpickles "
            "(unpickling runs code from the file)"
        )  # fmt: skip
