"""Operator actions as values: parse a typed line into a command, and print one back.

Every action — a ``:`` line in the TUI, a key press, a ``do:`` line in a scenario, a remote
client — becomes one frozen value here. Values rather than callbacks, because a log of
values *is* a recording and feeding it back *is* a replay. That holds only if
``parse_command(cmd.text) == cmd`` for every value, so each value prints a canonical line
and validates itself on construction (a value built in code obeys the same rules).

The parser knows the grammar, not the factory: ``fail rack-z99`` parses, and the engine
answers that there is no such rack. Actions on the factory derive from `Command`; actions on
the session (clock, files, alarms) derive from `SessionCommand`, so the engine can refuse
them by type and front ends carry them out.

Modules: ``grammar`` (verbs, usages, the shared value base), ``factory`` (commands the
engine carries out), ``session`` (commands a front end carries out), ``parse`` (a line
into a value, and completion).
"""

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
)
from twin.core.commands.grammar import (
    POLICIES,
    VERBS,
    Command,
    CommandError,
    SessionCommand,
)
from twin.core.commands.parse import complete, parse_command
from twin.core.commands.session import Ack, Debrief, Hint, Pause, Resume, Save, Speed
from twin.core.vocab import POLICY_ALIASES

__all__ = [
    "POLICIES",
    "POLICY_ALIASES",
    "VERBS",
    "Ack",
    "Cap",
    "Command",
    "CommandError",
    "Debrief",
    "Degrade",
    "Drain",
    "Fail",
    "Faults",
    "Hint",
    "Pause",
    "Repair",
    "Resume",
    "Route",
    "Save",
    "Scale",
    "SessionCommand",
    "Speed",
    "Straggle",
    "Surge",
    "Swap",
    "Undrain",
    "complete",
    "parse_command",
]
