"""The bottom line: messages, and the `:` command line or `/` filter when open.

The command line completes with Tab (verbs, then component ids, GPUs, deployments, by
argument position, from the core grammar) and shows the first candidate inline; → takes
it. Esc closes without doing anything (never a destructive action on a bare Esc).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Input, Static


class _GrammarSuggester(Suggester):
    def __init__(self, complete: Callable[[str], list[str]]):
        super().__init__(use_cache=False, case_sensitive=True)
        self._complete = complete

    async def get_suggestion(self, value: str) -> str | None:
        if not value or value.endswith(" ") and len(value.split()) == 0:
            return None
        found = self._complete(value)
        return found[0] if found else None


def common_prefix(words: list[str]) -> str:
    return os.path.commonprefix(words) if words else ""


class CommandBar(Input):
    """`:` command line or `/` filter, depending on ``mode``."""

    BINDINGS = [
        Binding("tab", "complete", "complete", show=False),
        Binding("escape", "close", "close", show=False),
    ]

    class Closed(Message):
        """The bar closed without submitting (Esc)."""

    class Hint(Message):
        """Completion candidates to show while typing."""

        def __init__(self, text: str):
            super().__init__()
            self.text = text

    def __init__(self, complete: Callable[[str], list[str]], *, id: str | None = None):
        super().__init__(
            id=id, suggester=_GrammarSuggester(self._complete_for_mode), select_on_focus=False
        )
        self._complete = complete
        self.mode = ":"
        self._refused: str | None = None  # the line as it was when it was refused

    def refused(self) -> None:
        """The line was refused and stays open to be fixed; the key that opens a command line
        typed next, before any other edit, starts a fresh one instead of landing in the old."""
        self._refused = self.value
        self.cursor_position = len(self.value)

    async def _on_key(self, event: events.Key) -> None:
        at_end = self.cursor_position == len(self.value)
        if self.mode == ":" and event.character == ":" and self._refused == self.value and at_end:
            event.stop()
            event.prevent_default()
            self.value, self._refused = "", None
            return
        self._refused = None
        await super()._on_key(event)

    def _complete_for_mode(self, text: str) -> list[str]:
        return self._complete(text) if self.mode == ":" else []

    def open(self, mode: str, value: str = "") -> None:
        self.mode = mode
        self.placeholder = (
            "command — Tab completes, Enter runs, Esc closes (e.g. fail pdu-3, route kv-aware, speed 60)"
            if mode == ":"
            else "filter — Enter keeps it, Esc clears it"
        )
        self.value, self._refused = value, None
        self.cursor_position = len(value)
        self.parent.display = True
        self.parent.query_one(".prompt", Static).update(mode)
        # focus now, not after the keys already queued: they must be typed, not run as bindings
        self.screen.set_focus(self)

    def action_complete(self) -> None:
        if self.mode != ":":
            return
        found = self._complete(self.value)
        if not found:
            self.post_message(self.Hint("no completion"))
            return
        if len(found) == 1:
            self.value = found[0] + " "
        else:
            prefix = common_prefix(found)
            if len(prefix) > len(self.value):
                self.value = prefix
        self.cursor_position = len(self.value)
        if len(found) > 1:
            last = [c.split()[-1] if c.split() else c for c in found]
            more = f" (+{len(found) - 12})" if len(found) > 12 else ""
            self.post_message(self.Hint("  ".join(last[:12]) + more))

    def action_close(self) -> None:
        self.post_message(self.Closed())


class CommandLine(Horizontal):
    """The prompt (`:` or `/`) and the command bar; hidden until opened."""

    def __init__(self, complete: Callable[[str], list[str]], *, id: str | None = None):
        super().__init__(id=id)
        self._complete = complete

    def compose(self) -> ComposeResult:
        yield Static(":", classes="prompt")
        yield CommandBar(self._complete, id="command")


def fit_message(text: str, width: int) -> str:
    """One line that fits: long lists of known names give way to a pointer to Tab."""
    text = " ".join(text.splitlines())
    if len(text) <= width:
        return text
    for marker in ("; known: ", "; commands: ", "; failed now: "):
        if marker in text:
            head = text.split(marker)[0] + " (Tab completes names)"
            if len(head) <= width:
                return head
    return text[: width - 1] + "…"


class MessageBar(Widget):
    """One line: the result of the last action, an error, or the keys of the current view."""

    STYLE = {
        "ok": "$success",
        "error": "bold $error",
        "warn": "$warning",
        "info": "",
        "hint": "$text-muted",
    }
    GLYPH = {"ok": "✓ ", "error": "✗ ", "warn": "▲ ", "info": "", "hint": ""}

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.text, self.kind = "", "hint"

    def say(self, text: str, kind: str = "info") -> None:
        self.text, self.kind = text, kind
        self.refresh()

    def render(self) -> Content:
        width = max(self.size.width, 20)
        text = fit_message(self.GLYPH[self.kind] + self.text, width)
        return Content.styled(text, self.STYLE[self.kind])
