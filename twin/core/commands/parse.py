"""A typed line into a command value, and completion of a partial line."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from twin.core.commands.factory import (
    Cap,
    Degrade,
    Drain,
    Fail,
    Faults,
    Repair,
    Route,
    Scale,
    Straggle,
    Surge,
    Swap,
    Undrain,
    _parse_uncap,
)
from twin.core.commands.grammar import (
    _ARG_KINDS,
    MAX_COMPLETIONS,
    MAX_LINE,
    POLICIES,
    VERBS,
    Command,
    CommandError,
    SessionCommand,
    _Action,
    _Args,
    _hint,
    _is_quantity,
)
from twin.core.commands.session import (
    Ack,
    Debrief,
    Hint,
    Pause,
    Resume,
    Save,
    Speed,
    _parse_save_bang,
)
from twin.core.errors import clip

_ACTIONS: tuple[type[_Action], ...] = (
    Fail,
    Repair,
    Degrade,
    Straggle,
    Drain,
    Undrain,
    Route,
    Cap,
    Swap,
    Scale,
    Surge,
    Faults,
    Speed,
    Pause,
    Resume,
    Save,
    Ack,
    Hint,
    Debrief,
)
_PARSERS: dict[str, Callable[[_Args], _Action]] = {cls.verb: cls._parse for cls in _ACTIONS}
_PARSERS["uncap"] = _parse_uncap
_PARSERS["save!"] = _parse_save_bang


def parse_command(text: str) -> Command | SessionCommand:
    """Read one command line (a leading ``:`` is allowed); raise `CommandError` if it is not one."""
    if len(text) > MAX_LINE:
        raise CommandError(
            f"a command is at most {MAX_LINE} characters; this one has {len(text):,}"
        )
    bad = next((ch for ch in text.strip() if (ord(ch) < 32 and ch != "\t") or ord(ch) == 127), None)
    if bad is not None:
        raise CommandError(
            f"a command cannot hold control characters (found {bad!r} in {clip(text)!r})"
        )
    words = text.strip().removeprefix(":").split()
    if not words:
        raise CommandError(f"empty command; commands: {', '.join(VERBS)}")
    verb = words[0].lower()
    if verb not in _PARSERS:
        raise CommandError(
            f"unknown command {words[0]!r}{_hint(verb, VERBS)}; commands: {', '.join(VERBS)}"
        )
    return _PARSERS[verb](_Args(verb, words[1:]))  # type: ignore[return-value]


def complete(
    text: str,
    ids: Iterable[str],
    gpus: Iterable[str] = (),
    deployments: Iterable[str] = (),
    workloads: Iterable[str] = (),
) -> list[str]:
    """Whole-line candidates for a partly typed line: the verb first, then each argument by kind.

    Only the last word is completed; what comes before it is kept as typed, so a front end
    can replace the line with any candidate. Sorted, and at most `MAX_COMPLETIONS`.
    """
    body = text.lstrip().removeprefix(":")
    words = body.split()
    partial = words.pop() if words and not body[-1].isspace() else ""
    head = text[: len(text) - len(partial)]
    if not words:
        choices: list[str] = list(VERBS)
    else:
        verb, args = words[0].lower(), words[1:]
        kinds = _ARG_KINDS.get(verb, ())
        kind = kinds[len(args)] if len(args) < len(kinds) else ""
        if verb == "cap" and args and (_is_quantity(args[0]) or args[0].lower() == "off"):
            kind = ""  # 'cap 80%' and 'cap off' are complete
        if verb == "surge" and len(args) == 2 and not _is_quantity(args[1]):
            kind = ""  # the class came straight after the factor
        sources = {
            "target": ids,
            "policy": POLICIES,
            "gpu": gpus,
            "deployment": deployments,
            "workload": workloads,
        }
        choices = []
        for part in filter(None, kind.split("|")):
            choices.extend(sources.get(part, (part,)))
    matches = {head + c for c in choices if c.lower().startswith(partial.lower())}
    return sorted(matches)[:MAX_COMPLETIONS]
