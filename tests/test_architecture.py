"""ARCHITECTURE.md's worked examples hold: each addition touches at most two files, and a
copy of the package with exactly those edits runs a factory that uses all four."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "ARCHITECTURE.md"
EDIT = re.compile(r'<!-- edit (\S+) (before|after) "([^"]+)" -->\n```\w*\n(.*?)```', re.S)
SECTION = re.compile(r"^\*\*(A [^*]+)\*\*", re.M)


def edits_by_section() -> dict[str, list[tuple[str, str, str, str]]]:
    text = DOC.read_text()
    heads = [(m.start(), m.group(1)) for m in SECTION.finditer(text)]
    out: dict[str, list] = {name: [] for _, name in heads}
    for m in EDIT.finditer(text):
        name = [n for pos, n in heads if pos < m.start()][-1]
        out[name].append(m.groups())
    return out


def test_each_addition_the_doc_shows_touches_at_most_two_files():
    sections = edits_by_section()
    assert set(sections) == {"A routing policy", "A fault kind", "A gauge or any metric", "A GPU"}
    for name, edits in sections.items():
        files = {path for path, *_ in edits}
        assert edits and len(files) <= 2, (name, files)
        for path, _, anchor, _ in edits:  # every anchor starts one line of its file
            lines = (ROOT / path).read_text().splitlines()
            assert sum(line.startswith(anchor) for line in lines) == 1, (path, anchor)


def _apply(copy: Path) -> None:
    for edits in edits_by_section().values():
        for path, where, anchor, block in edits:
            f = copy / path
            lines = f.read_text().split("\n")
            i = next(k for k, line in enumerate(lines) if line.startswith(anchor))
            at = i + 1 if where == "after" else i
            lines[at:at] = block.rstrip("\n").split("\n")
            f.write_text("\n".join(lines))


SCRIPT = textwrap.dedent(
    """
    import sys
    import yaml
    from engine_helpers import small_doc
    from twin.core.commands import parse_command
    from twin.core.engine import Factory
    from twin.core.layout import load_layout
    from twin.core.report import Recorder, report
    from twin.frontends import markdown

    doc = small_doc()
    doc["rows"][0]["gpu"] = "h100-nvl"
    doc["routing"] = "capacity-weighted"
    path = sys.argv[1] + "/nvl.yaml"
    open(path, "w").write(yaml.safe_dump(doc, sort_keys=False))
    f = Factory(load_layout(path))
    assert f.rack_sku[0] == "h100-nvl" and f.snapshot().routing == "capacity-weighted"
    rec = Recorder(f, 60.0)
    rec.run_until(30.0)
    print(f.apply(parse_command("fail chat-70b for 5m")))
    rec.run_until(60.0)
    snap = f.snapshot()
    print("down", [snap.racks.ids[i] for i, s in enumerate(snap.racks.state) if s == 5])
    d = report(rec)
    print("share", round(d["summary"]["input_share"], 3))
    print([line for line in markdown.render(d).splitlines() if "input" in line][0])
    """
)


def test_a_copy_with_the_four_additions_runs_them(tmp_path):
    copy = tmp_path / "pkg"
    shutil.copytree(ROOT / "twin", copy / "twin", ignore=shutil.ignore_patterns("__pycache__"))
    _apply(copy)
    env = {**os.environ, "PYTHONPATH": f"{copy}{os.pathsep}{ROOT / 'tests'}"}
    env.pop("TWIN_CATALOG", None)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("deployment chat-70b failed; repair in 5m")
    assert lines[1] == "down ['row-a-01', 'row-a-02', 'row-a-03', 'row-a-04']"
    share = float(lines[2].split()[1])
    assert 0.5 < share < 1.0  # 1k-4k tokens in for 200-400 out
    assert lines[3].startswith("| share of tokens that are input (%) | ")


def test_the_facade_contract_covers_every_front_end_and_every_core_module():
    """A new front-end module or core module is under the facade contract without anyone
    remembering to list it: the front ends are named as whole packages, and every core
    module but the facade and the plain values is forbidden to them."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    facade = next(c for c in contracts["contracts"] if "twin.core.api" in c["name"])
    assert set(facade["source_modules"]) == {"twin.cli", "twin.frontends"}
    core = {
        f"twin.core.{p.stem}"
        for p in (ROOT / "twin" / "core").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    plain = {"twin.core.api", "twin.core.errors", "twin.core.units", "twin.core.vocab"}
    assert set(facade["forbidden_modules"]) == core - plain
