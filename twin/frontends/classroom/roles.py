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
