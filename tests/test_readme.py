"""The README's examples are true: its scenario example is a valid scenario, and its
quick start names the commands CI runs."""

import re
from pathlib import Path

from twin.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_scenario_example_is_a_valid_scenario(tmp_path, capsys):
    text = README.read_text(encoding="utf-8")
    block = re.search(r"## Scenarios.*?```yaml\n(.*?)```", text, re.S)
    assert block, "the README has a commented scenario example"
    path = tmp_path / "example.yaml"
    path.write_text(block.group(1), encoding="utf-8")
    assert main(["check", str(path)]) == 0, capsys.readouterr().err
    assert "ok — scenario pdu-loss-at-peak" in capsys.readouterr().out


def test_the_quick_start_is_two_commands_and_ci_runs_the_second():
    text = README.read_text(encoding="utf-8")
    block = re.search(r"## Quick start\n+```\n(.*?)```", text, re.S).group(1)
    lines = [ln for ln in block.splitlines() if ln.strip()]
    assert len(lines) == 2
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "pytest" in lines[1] and "pytest" in ci
