"""The commands of a class, checked against the sender's role in ``twin serve``.

Operator commands go to the sender's world in their name; the clock, checkpoints,
rewinds, injects, hints, the debrief and the end of the session are the class's own
(`roles.CLASS_VERBS`); each is allowed or refused by `roles.Policy` before it acts.
Mixed into `Classroom` (which provides worlds, clients, policy, kick and the replies).
"""

from __future__ import annotations

import asyncio
import re

from twin.core.api import commands as C
from twin.core.errors import TwinError
from twin.frontends.classroom import protocol
from twin.frontends.classroom.roles import CLASS_VERBS
from twin.frontends.classroom.world import World
from twin.frontends.tui.clock import speed_label

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class Refused(TwinError):
    """A command the sender's role may not give."""


class ClassCommands:
    """``Classroom``'s command handling."""

    async def _command(self, c, text: str, msg_id) -> None:
        words = text.split()
        verb = words[0].lower()
        w = self.worlds[c.world]
        if verb in CLASS_VERBS:
            return await self._class_command(c, w, verb, words[1:], text, msg_id)
        try:
            cmd = C.parse_command(text)
        except C.CommandError as e:
            self._error(c, str(e), msg_id, journal=False)
            return
        if isinstance(cmd, C.Pause | C.Resume | C.Speed):
            return await self._clock(c, w, cmd, msg_id)
        if isinstance(cmd, C.Save):
            self._allow(c, "save")
            out = await self._run(lambda: w.session.save(cmd.path, w.factory.now, cmd.force))
            return self._result(c, msg_id, f"saved to {out} (replay: twin run {out})")
        if isinstance(cmd, C.SessionCommand):
            self._error(c, f"{cmd.verb}: each console does this itself", msg_id, journal=False)
            return
        self._allow(c, "operator")
        w.driver.submit_as(cmd, c.name, msg_id=msg_id)
        self.kick.set()

    def _allow(self, c, kind: str) -> None:
        why = self.policy.refusal(c.role, kind)
        if why is not None:
            raise Refused(f"{kind if kind != 'operator' else 'commands'} refused: {why}")

    async def _clock(self, c, w: World, cmd, msg_id) -> None:
        self._allow(c, "clock")
        worlds = list(self.worlds.values()) if c.role == "instructor" else [w]
        for x in worlds:
            if isinstance(cmd, C.Pause):
                x.clock.pause()
                x.clock.sync(x.factory.now)
                x.note("froze the clock", c.name)
            elif isinstance(cmd, C.Resume):
                if x.ended:
                    continue
                x.clock.sync(x.factory.now)
                x.clock.resume()
                x.note(f"runs the clock at {speed_label(x.clock.speed)}", c.name)
            else:
                old = speed_label(x.clock.speed)
                x.clock.set_speed(cmd.factor)
                x.note(f"speed {old} → {speed_label(cmd.factor)}", c.name)
        self.kick.set()
        self._result(c, msg_id, "ok")

    async def _class_command(self, c, w: World, verb: str, args, text, msg_id) -> None:
        if verb in ("freeze", "run"):
            return await self._clock(c, w, C.Pause() if verb == "freeze" else C.Resume(), msg_id)
        if verb == "who":
            people = ", ".join(f"{x.name} ({x.role}, {x.world})" for x in self.clients)
            return self._result(c, msg_id, f"attached: {people}")
        if verb == "hint":
            self._allow(c, "hint")
            return self._result(c, msg_id, self._hint(c, w))
        if verb == "debrief":
            return self._debrief(c, w, msg_id)
        if verb in ("checkpoint", "checkpoints"):
            self._allow(c, "checkpoint")
            if verb == "checkpoints":
                return self._result(c, msg_id, w.checkpoint_list())
            name = args[0] if args else None
            if name is not None and not NAME.match(name):
                raise TwinError("checkpoint: a name is 1-32 letters, digits, '.', '_' or '-'")
            for x in self._worlds_for(c, w):
                cp = await self._run(x.checkpoint, name)
                x.note(f"checkpoint {cp.name} at {x.rel(cp.t_s)}", c.name)
            return self._result(c, msg_id, f"checkpoint {cp.name} taken")
        if verb == "rewind":
            self._allow(c, "rewind")
            if len(args) != 1:
                raise TwinError(f"rewind NAME; checkpoints: {w.checkpoint_list()}")
            for x in self._worlds_for(c, w):
                if args[0] not in x.checkpoints:
                    continue
                cp = await self._run(x.rewind, args[0], c.name)
                x.note(
                    f"rewound to {cp.name} ({x.rel(cp.t_s)}); the clock is frozen",
                    c.name,
                    "warning",
                )
                for other in self.clients:
                    if other.world == x.name:
                        other.need_full = True
                self._alarm_seen.pop(x.name, None)
            if args[0] not in w.checkpoints:
                raise TwinError(f"rewind: no checkpoint {args[0]!r}; {w.checkpoint_list()}")
            self.kick.set()
            return self._result(c, msg_id, f"rewound to {args[0]}")
        if verb == "inject":
            self._allow(c, "inject")
            hidden = bool(args) and args[0].lower() == "hidden"
            rest = " ".join(args[1:] if hidden else args)
            cmd = C.parse_command(rest) if rest else None
            if not isinstance(cmd, C.Command):
                raise TwinError("inject [hidden] COMMAND, e.g. inject hidden fail pdu-3")
            for x in self._worlds_for(c, w):
                x.driver.submit_as(cmd, c.name, "hidden" if hidden else "shown", msg_id)
            self.kick.set()
            return None
        if verb == "watch":
            self._allow(c, "watch")
            if len(args) != 1 or args[0] not in self.worlds:
                raise TwinError(f"watch NAME: one of {', '.join(self.worlds)}")
            c.world, c.need_full = args[0], True
            self.kick.set()
            return self._result(c, msg_id, f"watching {args[0]}")
        if verb == "autofreeze":
            self._allow(c, "autofreeze")
            if args not in (["on"], ["off"]):
                raise TwinError("autofreeze on|off")
            self.auto_freeze = args[0] == "on"
            w.note(f"auto-freeze on critical alarms {args[0]}", c.name)
            return self._result(c, msg_id, f"autofreeze {args[0]}")
        if verb == "end":
            self._allow(c, "end")
            self.ended_by = c.name
            for x in self.worlds.values():
                x.note("ended the session", c.name)
                x.ended = True
            self._result(c, msg_id, "session ended")
            asyncio.get_running_loop().call_later(
                0.1, lambda: asyncio.ensure_future(self.stop(f"the session was ended by {c.name}"))
            )
            return None
        raise TwinError(f"{verb}: not available")

    def _worlds_for(self, c, w: World) -> list[World]:
        return list(self.worlds.values()) if c.role == "instructor" else [w]

    def _hint(self, c, w: World) -> str:
        p = w.player
        if p is None:
            return "hint: no drill is playing"
        drill = getattr(p, "drill", None)
        if drill is not None:  # a drill's own hints, for its points
            with w.driver.lock:
                text = drill.take_hint(p.t_rel())
                cost = drill.drill.hint_cost
                left = len(drill.drill.hints) - len(drill.hints)
                if text is not None:  # journaled: it costs points, so a replay takes it too
                    w.session.hint(w.factory.now, c.name)
            if text is None:
                return "hint: no hints left" if not drill.finished else "hint: the drill is over"
            w.note(f"took a hint (−{cost:g})", c.name, instructor_only=True)
            return f"hint (−{cost:g}, {left} left): {text}"
        w.note("took a hint", c.name, instructor_only=True)
        for v in p.live_verdicts():
            if v.status in ("pending", "holding"):
                return f"hint: the drill expects {v.text}"
        return "hint: every expectation is settled"

    def _debrief(self, c, w: World, msg_id) -> None:
        """The drill's debrief as Markdown (the console shows it); a trainee's at the end only."""
        p = w.player
        if p is None or getattr(p, "drill", None) is None:
            raise TwinError("debrief: no drill is running (a drill is a scenario with objectives)")
        if c.role != "instructor" and not p.finished:
            raise TwinError("debrief: it opens when the drill is over")
        from twin.frontends import debrief

        with w.driver.lock:
            rep = p.drill.report(p.t_rel(), p.applied)
            events = list(p.factory.events)
        actions = [debrief.Action(a["t_s"], a["do"], a["source"], a["ok"]) for a in rep["actions"]]
        blind = c.role != "instructor"
        shown = [
            w.driver.shown(e, blind)
            for e in events
            if e.t_s >= p.t0
            and (not blind or (e.id not in w.driver.hidden and e.source != "scenario"))
        ]
        notes = [debrief.Note(e.t_s - p.t0, e.severity, e.source, e.message) for e in shown]
        text = debrief.render(p.sc.name, rep, actions, notes)
        c.send(protocol.pack_tree("debrief", id=msg_id, text=text))
