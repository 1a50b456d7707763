"""`s` on a rack or row: which GPU generation to swap to (Enter swaps, Esc cancels)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


class ChooseGpuScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(
        self,
        target: str,
        racks: int,
        gpus: list[tuple[str, str]],
        current: str | None,
        downtime: str,
    ):
        super().__init__()
        self.target, self.racks, self.gpus, self.current, self.downtime = (
            target,
            racks,
            gpus,
            current,
            downtime,
        )

    def compose(self) -> ComposeResult:
        with Vertical(id="gpu-box", classes="dialog"):
            yield Static(
                Content.assemble(
                    (f"Swap {self.target}", "bold"),
                    f" ({self.racks} rack{'s' if self.racks != 1 else ''}, down for {self.downtime}) to which GPU?",
                )
            )
            yield OptionList(
                *[
                    Option(f"{gid:<8} {name}" + ("  (now)" if gid == self.current else ""), id=gid)
                    for gid, name in self.gpus
                ],
                id="gpu-list",
            )
            yield Static(
                Content.assemble(
                    ("Enter", "bold reverse"), " swap    ", ("Esc", "bold reverse"), " cancel"
                ),
                classes="dialog-keys",
            )

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
