"""A class's session file: a replayable scenario whose every line names its author.

It is the control room's recording (`twin.core.journal.Journal`: written ahead, one
fsynced line per command, each naming its author: ``by: bo``, ``by: script``, an
instructor's ``by: ada, inject: hidden``, a hint ``{hint: true, by: bo}``) with two
additions: session events (the clock frozen, a checkpoint, a refused message) are comment
lines; and a rewind keeps the abandoned branch in the file as comments, so ``twin run
FILE`` replays the branch kept, to the live session's score.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

from twin.core.api import Journal
from twin.core.api import commands as C
from twin.core.errors import TwinError
from twin.frontends.recording import SessionLog


class ClassJournal(Journal):
    """A `Journal` that can comment, and turn a branch into comments (rewind)."""

    def __init__(self, *args, **kwargs):
        self.doc: list[list] = []  # [text, is_command]; the file is these, in order
        super().__init__(*args, **kwargs)

    def _write(self, text: str, command: bool = False) -> None:
        self.doc.append([text, command])
        super()._write(text)

    def record(self, t_s, cmd, by=None, inject=None) -> None:
        if self.closed:
            return
        self.entries.append((t_s, cmd.text if cmd is not None else "hint"))
        self._write(self.line(t_s, cmd, by, inject), command=True)

    def comment(self, text: str) -> None:
        if not self.closed:
            self._write("  # " + " ".join(text.splitlines()) + "\n")

    def branch(self, keep: int, why: str) -> None:
        """Keep the first ``keep`` commands; the rest become comments (the file is rewritten
        whole, atomically, then appended to again)."""
        if self.closed:
            return
        seen = 0
        for item in self.doc:
            if item[1]:
                seen += 1
                if seen > keep:
                    item[0] = "  # (abandoned) " + item[0].lstrip()
                    item[1] = False
        self.doc.append(
            [f"  # ---- {why}: the commands above after it are abandoned ----\n", False]
        )
        self.entries = self.entries[:keep]
        self._fh.close()
        fd, tmp = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write("".join(text for text, _ in self.doc))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            self._fh = self.path.open("a", encoding="utf-8")
        except OSError as e:
            raise TwinError(f"record: cannot write {self.path}: {e.strerror or e}") from None


class ClassSession(SessionLog):
    """The `SessionLog` of one world of a class: commands with their authors."""

    JOURNAL = ClassJournal

    def record(
        self,
        t_abs: float,
        cmd: C.Command,
        source: str = "operator",
        author: str = "operator",
        inject: str | None = None,
    ) -> None:
        """A command applied: the script's (``by: script``), a person's (``by: NAME``), or
        an instructor's inject (``inject: true | hidden``: part of the exercise)."""
        if source == "script":
            author, inject = "script", None
        self._add(t_abs, cmd, source if inject is None else "inject", author, inject)

    def comment(self, text: str) -> None:
        if isinstance(self.journal, ClassJournal):
            with contextlib.suppress(TwinError):
                self.journal.comment(text)

    def branch(self, keep: int, why: str) -> None:
        self.entries = self.entries[:keep]
        self.authors = self.authors[:keep]
        if isinstance(self.journal, ClassJournal):
            self.journal.branch(keep, why)
