"""A run or scenario report as Markdown, for people: KPIs, timeline, verdicts."""

from __future__ import annotations

from typing import Any

from twin.core.api import kpis
from twin.core.units import format_duration, format_metric


def key_figures():
    """The Markdown's key figures: the registry's headline metrics and their breakdowns."""
    return tuple(m for m in kpis.metrics() if m.headline or m.detail)


def render(doc: dict[str, Any]) -> str:
    s = doc["summary"]
    start = doc.get("start_s", 0.0)
    title = doc.get("scenario") or doc["layout"]
    lines = [f"# {title}", ""]
    if doc.get("description"):
        lines += [doc["description"].strip(), ""]
    status = doc.get("status")
    verdict = {
        "passed": "✔ every expectation held",
        "failed": "✘ an expectation failed",
        "aborted": "✘ aborted",
    }.get(status, "")
    if status == "failed" and doc.get("failed_commands"):
        verdict = f"✘ {doc['failed_commands']} scripted command(s) failed" + (
            ""
            if all(e["status"] != "failed" for e in doc.get("expectations", ()))
            else " and an expectation failed"
        )
    lines += [
        f"Layout `{doc['layout']}` · seed {doc['seed']} · {format_duration(doc.get('duration_s', 0))} simulated"
        + (f" after a {format_duration(doc['warmup_s'])} warm-up" if doc.get("warmup_s") else "")
        + (f" · **{verdict}**" if verdict else ""),
        "",
    ]
    if doc.get("aborted"):
        lines += [f"Aborted: {doc['aborted']}", ""]
    lines += ["## Key figures", "", "| figure | value |", "|---|---:|"]
    lines += [f"| {m.heading} | {m.figure(s.get(m.name))} |" for m in key_figures()]
    lines += [
        "| requests (shed / failed / abandoned) | "
        f"{s.get('requests', 0):,.0f} ({s.get('requests_shed', 0):,.0f} / "
        f"{s.get('requests_failed', 0):,.0f} / {s.get('requests_abandoned', 0):,.0f}) |",
        "",
    ]
    if doc.get("expectations"):
        lines += [
            "## Expectations",
            "",
            "| | expectation | observed | when | by |",
            "|---|---|---:|---:|---:|",
        ]
        for e in doc["expectations"]:
            mark = {"passed": "✔", "failed": "✘"}.get(e["status"], "–")
            obs = e["observed"]
            obs_s = format_metric(e.get("metric", ""), obs)
            when = "" if e["at_s"] is None else format_duration(e["at_s"])
            by = "" if e["by"] is None else format_metric(e.get("metric", ""), e["by"])
            lines.append(f"| {mark} | `{e['expect']}` | {obs_s} | {when} | {by} |")
        lines.append("")
    if doc.get("drill"):
        from twin.frontends import debrief

        lines += [debrief.from_report(doc), ""]
    if doc.get("commands"):
        lines += ["## Commands", "", "| | at | command | result |", "|---|---:|---|---|"]
        for c in doc["commands"]:
            mark = "✔" if c.get("ok", not str(c["result"]).startswith("error")) else "✘"
            lines.append(f"| {mark} | {format_duration(c['t_s'])} | `{c['do']}` | {c['result']} |")
        lines.append("")
    lines += ["## Timeline", ""]
    shown = doc["events"]
    for e in shown[:200]:
        t = max(0.0, e["t_s"] - start)
        lines.append(
            f"- `{format_duration(t):>7}` **{e['severity']}** {e['source']}: {e['message']}"
        )
    if len(shown) > 200:
        lines.append(f"- … {len(shown) - 200} more events in the JSON report")
    return "\n".join(lines) + "\n"
