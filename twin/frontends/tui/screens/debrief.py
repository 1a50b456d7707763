"""The debrief screen: a drill's score breakdown, timeline, KPI curves and the reference.

It opens by itself when a drill ends, and on ``:debrief`` (a blind session only once the
drill is over: it names the expected actions and the reference response). It shows the
Markdown of `twin.frontends.debrief` — the very text ``:debrief FILE`` and ``e`` write —
so what is read on screen and what is handed in are the same.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Markdown, Static


class DebriefScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q", "close", "back to the control room"),
        Binding("e", "export", "write the debrief to a Markdown file"),
        Binding("up,k", "scroll(-1)", show=False),
        Binding("down,j", "scroll(1)", show=False),
        Binding("pageup", "scroll(-10)", show=False),
        Binding("pagedown,space", "scroll(10)", show=False),
    ]

    def __init__(self, text: str, export: Callable[[], str]):
        super().__init__(id="debrief")
        self.text = text
        self._export = export

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="debrief-box"):
            yield Markdown(self.text, id="debrief-text")
        yield Static(
            "↑↓ scroll · e write it to a Markdown file · Esc back to the control room",
            id="debrief-keys",
        )

    def on_mount(self) -> None:
        self.query_one("#debrief-box", VerticalScroll).focus()

    def show_text(self, text: str) -> None:
        self.text = text
        self.query_one("#debrief-text", Markdown).update(text)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_export(self) -> None:
        self.query_one("#debrief-keys", Static).update(self._export())

    def action_scroll(self, delta: int) -> None:
        self.query_one("#debrief-box", VerticalScroll).scroll_relative(y=delta, animate=False)
