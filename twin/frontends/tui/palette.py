"""ctrl+p: every command in Textual's palette, fuzzy-searchable.

Each `:` verb appears (a verb that needs arguments opens the command line with it typed),
plus ready-made lines for the choices that need no typing (each routing policy, each
speed, pause/resume, acknowledge all) and the app's own actions (views, heat, help).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Protocol

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content

from twin.core.api import POLICIES, VERBS
from twin.frontends.tui.clock import SPEEDS, speed_label


class Console(Protocol):
    """What the palette needs of the app it drives (the control room's app; a class console)."""

    view_titles: Sequence[str]

    def run_line(self, text: str) -> str | None: ...
    def open_command_line(self, text: str = "") -> None: ...
    def action_view(self, index: int) -> None: ...
    def action_heat(self) -> None: ...
    def action_help(self) -> None: ...


#: Verbs whose line is complete without arguments.
_BARE = {"pause", "resume"}


def palette_entries(app: Console) -> list[tuple[str, Callable[[], object], str]]:
    out: list[tuple[str, Callable[[], object], str]] = []
    for verb, (usage, help_) in VERBS.items():
        if verb in _BARE:
            out.append((f":{verb}", partial(app.run_line, verb), help_))
        else:
            out.append((f":{usage}", partial(app.open_command_line, verb + " "), help_))
    for policy in POLICIES:
        out.append(
            (
                f":route {policy}",
                partial(app.run_line, f"route {policy}"),
                f"Route requests by {policy}",
            )
        )
    for s in SPEEDS:
        out.append(
            (
                f":speed {'max' if s is None else f'{s:g}'}",
                partial(app.run_line, f"speed {'max' if s is None else f'{s:g}'}"),
                f"Run the clock at {speed_label(s)}",
            )
        )
    out.append(
        (
            ":faults on",
            partial(app.run_line, "faults on"),
            "Random faults from published failure rates",
        )
    )
    out.append((":faults off", partial(app.run_line, "faults off"), "No random faults"))
    out.append((":ack all", partial(app.run_line, "ack all"), "Acknowledge every alarm"))
    for i, title in enumerate(app.view_titles):
        out.append(
            (
                f"view {i + 1}: {title}",
                partial(app.action_view, i),
                f"Show the {title.lower()} view (key {i + 1})",
            )
        )
    out.append(
        (
            "floor heat mode",
            app.action_heat,
            "Cycle the floor's heat: state, utilisation, temperature (key h)",
        )
    )
    out.append(("help", app.action_help, "Every key and command (key ? or F1)"))
    return out


class TwinCommands(Provider):
    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_ in palette_entries(self.app):  # type: ignore[arg-type]
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, _highlight(matcher, name), callback, text=name, help=escape(help_))

    async def discover(self) -> Hits:
        for name, callback, help_ in palette_entries(self.app):  # type: ignore[arg-type]
            yield DiscoveryHit(Content(name), callback, text=name, help=escape(help_))


def escape(text: str) -> str:
    """Help lines are read as markup by the palette; usages hold literal [brackets]."""
    return text.replace("[", "\\[")


def _highlight(matcher, name: str) -> Content:
    """The matched letters in bold; ``name`` is plain text (usages hold [brackets], not markup)."""
    content = Content(name)
    _score, offsets = matcher.fuzzy_search.match(matcher.query, name)
    for offset in offsets:
        if not name[offset].isspace():
            content = content.stylize("bold underline", offset, offset + 1)
    return content
