"""Errors a user can cause, each rendered as one line naming where it came from."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

MAX_QUOTE = 60  # characters of a bad value shown in a message
MAX_MESSAGE = 400  # characters of one message line


def clip(text: str, limit: int = MAX_QUOTE) -> str:
    """``text`` cut to ``limit`` characters with the length said, so a 100 KB typo stays one line."""
    text = text.replace("\n", " ")
    return text if len(text) <= limit else f"{text[: limit - 1]}… ({len(text):,} characters)"


_LONG = str(MAX_QUOTE + 1)
_QUOTED = re.compile(r"(?<!\w)(?:'[^'\n]{" + _LONG + r",}'|\"[^\"\n]{" + _LONG + r",}\")(?!\w)")


def clip_message(message: str) -> str:
    """A message with every long quoted value clipped, and the whole line bounded."""

    def shorten(m: re.Match) -> str:
        q, inner = m.group(0)[0], m.group(0)[1:-1]
        return m.group(0) if " characters)" in inner else q + clip(inner) + q

    message = _QUOTED.sub(shorten, str(message))
    return clip(message, MAX_MESSAGE)


class TwinError(Exception):
    """Anything the user can fix: bad input, an unknown name, an impossible request.

    Front ends print ``str(error)`` (one line, or one line per problem) and exit 2;
    they never show a traceback for these.
    """

    def __str__(self) -> str:
        return "\n".join(clip_message(line) for line in super().__str__().split("\n"))


@dataclass(frozen=True)
class Problem:
    """One mistake in an input file, at a line (1-based; 0 when the file is unreadable)."""

    file: str
    line: int
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", clip_message(self.message))
        object.__setattr__(self, "file", clip(str(self.file), 200))

    def __str__(self) -> str:
        return (
            f"{self.file}:{self.line}: {self.message}"
            if self.line
            else f"{self.file}: {self.message}"
        )


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
