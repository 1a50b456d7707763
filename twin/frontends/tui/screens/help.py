"""`?` / F1: every binding of the current view and every `:` command, one line each."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from twin.core.api import VERBS
from twin.frontends.tui import glossary


def help_content(
    view_title: str,
    view_keys: tuple[tuple[str, str], ...],
    app_keys: list[tuple[str, str]],
    readonly: bool,
    commands: list[tuple[str, str]] | None = None,
) -> Content:
    """``commands``: (usage, what) of the ``:`` commands this console may give (default:
    every command of the control room)."""
    commands = list(VERBS.values()) if commands is None else commands
    key_w = max(len(k) for k, _ in [*view_keys, *app_keys]) + 2
    usage_w = max(len(u) for u, _ in commands) + 2
    parts: list = [(f"Help — {view_title} view\n\n", "bold")]
    parts += _numbers(view_title)
    if view_keys:
        parts.append((f"Keys in the {view_title.lower()} view\n", "bold $accent"))
        for key, what in view_keys:
            parts += [(f"  {key:<{key_w}}", "bold"), f"{what}\n"]
        parts.append("\n")
    parts.append(("Keys everywhere\n", "bold $accent"))
    for key, what in app_keys:
        parts += [(f"  {key:<{key_w}}", "bold"), f"{what}\n"]
    parts.append(("\nCommands (type : then a command; Tab completes)\n", "bold $accent"))
    for usage, what in commands:
        parts += [(f"  {usage:<{usage_w}}", "bold"), f"{what}\n"]
    parts.append(("\nNotes\n", "bold $accent"))
    notes = [
        "Keys act on the selection of the view: a rack or row (floor), a switch (fabric), a feed, PDU or loop (power).",
        "Failing, draining or swapping a whole row, PDU, feed, loop or spine asks first; Esc never does anything destructive.",
        "Over SSH use `ssh -t host twin` so the TUI gets a terminal; closing the connection ends twin.",
        "NO_COLOR=1 twin draws in monochrome: every state also has a glyph.",
        ":save FILE writes the commands of this session as a scenario (`twin run FILE` replays it); "
        "q asks before quitting with commands not saved, ctrl+q does not.",
        "twin --record FILE writes every command applied (yours and a scenario's) to FILE the moment it is "
        "applied; nothing is lost if the connection drops, and q does not ask.",
        "twin SCENARIO.yaml plays a scenario: its events fire at their simulated times (pause and speed "
        "as usual), you act on top of it, and view 6 shows the timeline and each expectation's verdict; "
        "--blind hides what comes next.",
    ]
    if readonly:
        notes.insert(
            0,
            "This session is read-only: commands are refused; navigation, filters and acknowledgements work.",
        )
    for n in notes:
        parts.append(f"  {n}\n")
    parts.append(("\nEsc, q or ? closes this help.", "$text-muted"))
    return Content.assemble(*parts)


def _numbers(view_title: str) -> list:
    """What every number on screen means, with its unit: the view's figures, then the gauges."""
    parts: list = [(f"Numbers in the {view_title.lower()} view\n", "bold $accent")]
    for name, words in glossary.VIEWS.get(view_title, ()):
        parts += [(f"  {name}", "bold"), f" — {words}\n"]
    parts.append(("\nThe gauges (top)\n", "bold $accent"))
    for label, words in glossary.gauges().values():
        parts += [(f"  {label}", "bold"), f" — {words}\n"]
    for label, words in glossary.GAUGE_NOTES:
        parts += [(f"  {label}", "bold"), f" — {words}\n"]
    parts.append("\n")
    return parts


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark,f1", "close", "close help"),
        Binding("up", "scroll(-1)", show=False),
        Binding("down", "scroll(1)", show=False),
    ]

    def __init__(self, content: Content):
        super().__init__()
        self._content = content

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(self._content, id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)

    def action_scroll(self, delta: int) -> None:
        self.query_one("#help-box", VerticalScroll).scroll_relative(y=delta, animate=False)
