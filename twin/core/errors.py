"""Errors a user can cause, each rendered as one line naming where it came from."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class TwinError(Exception):
    """Anything the user can fix: bad input, an unknown name, an impossible request.

    Front ends print ``str(error)`` (one line, or one line per problem) and exit 2;
    they never show a traceback for these.
    """


@dataclass(frozen=True)
class Problem:
    """One mistake in an input file, at a line (1-based; 0 when the file is unreadable)."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


class InputError(TwinError):
    """One or more problems in input files, all reported at once."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UnknownName(TwinError):
    """A name (GPU, model, component, command) that does not exist; lists what does."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        import difflib

        known = sorted(known)
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        shown = ", ".join(known[:40]) + (" …" if len(known) > 40 else "")
        super().__init__(f"unknown {kind} {name!r}{hint}; known: {shown}")
        self.kind, self.name, self.known = kind, name, tuple(known)
