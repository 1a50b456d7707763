"""Destructive actions on many racks ask first: y confirms, n or Esc cancels."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [
        Binding("y", "answer(True)", "yes"),
        Binding("n,escape", "answer(False)", "no"),
    ]

    def __init__(self, question: str, detail: str = ""):
        super().__init__()
        self.question, self.detail = question, detail

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="dialog"):
            yield Static(
                Content.assemble((self.question, "bold"), f"\n{self.detail}" if self.detail else "")
            )
            yield Static(
                Content.assemble(
                    ("y", "bold reverse"), " yes    ", ("n", "bold reverse"), " / Esc no"
                ),
                classes="dialog-keys",
            )

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
