"""Who may do what in a class, decided in ``twin serve`` for every message.

instructor: everything. trainee: operator commands (``fail``, ``drain``, ``route`` …), and
hints; with ``--per-trainee`` (a copy of the drill each) also freeze, speed, checkpoints and
rewind of their own copy — all three refused under ``--exam``. observer: nothing but
watching.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The class's own command words (the rest are the control room's: C.parse_command).
CLASS_VERBS = {
    "freeze": "freeze the clock (everyone's)",
    "run": "run the clock again",
    "inject": "inject [hidden] COMMAND: apply a command as the instructor; hidden: trainees see only its symptoms",
    "checkpoint": "checkpoint [NAME]: an exact snapshot to rewind to",
    "checkpoints": "list the checkpoints",
    "rewind": "rewind NAME: back to a checkpoint (the journal keeps the abandoned branch)",
    "hint": "a hint: what the drill expects next",
    "debrief": "the drill's debrief (trainees: when it is over)",
    "watch": "watch NAME: follow that trainee's copy (--per-trainee)",
    "autofreeze": "autofreeze on|off: freeze the clock when a critical alarm is raised",
    "end": "end the session for everyone (the journal is closed)",
    "who": "who is attached, with their roles",
}
#: Clock words of the control room, handled by the server's clock in a class.
CLOCK_VERBS = ("pause", "resume", "speed", "freeze", "run")
#: What `Policy.refusal` calls each command that is not an operator command (None: anyone).
VERB_KINDS: dict[str, str | None] = {
    **dict.fromkeys(CLOCK_VERBS, "clock"),
    "inject": "inject",
    "checkpoint": "checkpoint",
    "checkpoints": "checkpoint",
    "rewind": "rewind",
    "hint": "hint",
    "debrief": None,
    "watch": "watch",
    "autofreeze": "autofreeze",
    "end": "end",
    "who": None,
    "save": "save",
    "ack": None,
}


@dataclass(frozen=True)
class Policy:
    per_trainee: bool = False
    exam: bool = False

    def refusal(self, role: str, kind: str) -> str | None:
        """Why ``role`` may not do ``kind`` (None if it may). Kinds: operator, clock,
        checkpoint, rewind, hint, inject, end, watch, autofreeze, save, who."""
        if role == "instructor":
            return None
        if role == "observer":
            return "an observer watches only" if kind not in ("who",) else None
        # a trainee
        if kind in ("operator", "who"):
            return None
        if kind == "hint":
            return "no hints in an exam (--exam)" if self.exam else None
        if kind in ("clock", "checkpoint", "rewind"):
            if self.exam:
                return f"{'freeze' if kind == 'clock' else kind} is the instructor's in an exam (--exam)"
            if not self.per_trainee:
                return "the clock and checkpoints are the instructor's (everyone shares this simulation)"
            return None
        return f"'{kind}' is the instructor's"

    def allows(self, role: str, verb: str) -> bool:
        """May ``role`` give command ``verb`` (an operator command, a class or clock word)?"""
        kind = VERB_KINDS.get(verb.lower(), "operator")
        return kind is None or self.refusal(role, kind) is None


def commands_for(policy: Policy, role: str) -> list[tuple[str, str]]:
    """(usage, what it does) of every ``:`` command ``role`` may give in this class: the
    control room's, then the class's own (help lists them; completion offers them)."""
    from twin.core.api import VERBS

    out = [(usage, what) for verb, (usage, what) in VERBS.items() if policy.allows(role, verb)]
    for verb, text in CLASS_VERBS.items():
        if policy.allows(role, verb) and verb not in VERBS:
            usage, sep, what = text.partition(": ")
            out.append((usage, what) if sep and usage.startswith(verb) else (verb, text))
    return out


def complete(text: str, policy: Policy, role: str, base) -> list[str]:
    """Completions of a ``:`` line in a class: the verbs ``role`` may give (the control
    room's and the class's own), an inject's command, and ``base(text)`` (the control
    room's completion) for the arguments of an operator command."""
    from twin.core.api import VERBS

    body = text.lstrip().removeprefix(":")
    words = body.split()
    if len(words) == 0 or (len(words) == 1 and not body[-1:].isspace()):
        partial = words[0] if words else ""
        head = text[: len(text) - len(partial)]
        verbs = [*VERBS, *CLASS_VERBS]
        return sorted(
            {head + v for v in verbs if v.startswith(partial.lower()) and policy.allows(role, v)}
        )
    verb = words[0].lower()
    if not policy.allows(role, verb):
        return []
    if verb == "inject":  # inject [hidden] COMMAND: an engine command
        lead, rest = _after(text, len(text) - len(body) + len(words[0]))
        if rest.lower().startswith("hidden "):
            more, rest = _after(rest, len("hidden"))
            lead += more
        out = {lead + c for c in base(rest) if c.split()[0] not in VERB_KINDS}
        if " " not in rest and "hidden".startswith(rest.lower()) and not lead.endswith("hidden "):
            out.add(lead + "hidden")
        return sorted(out)
    if verb == "autofreeze" and len(words) <= 2:
        partial = words[1] if len(words) == 2 else ""
        head = text[: len(text) - len(partial)]
        return [head + w for w in ("off", "on") if w.startswith(partial.lower())]
    return [] if verb in CLASS_VERBS else base(text)


def _after(text: str, i: int) -> tuple[str, str]:
    """``text`` split after its first ``i`` characters and the blanks that follow them."""
    rest = text[i:].lstrip()
    return text[: len(text) - len(rest)], rest
