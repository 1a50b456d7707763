"""Fuzzing the inputs (issue 10): mutated layouts, scenarios and catalogs through ``twin
check``, and random command lines through the parser and the engine. Whatever comes in,
twin answers 0, 1 or 2 — never a traceback — and a refusal names ``FILE:LINE``.

Bounded to a few seconds per test (about 30 s in all) by the example counts below.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.cli import main
from twin.core.commands import VERBS, CommandError, parse_command
from twin.core.engine import Factory
from twin.core.errors import TwinError
from twin.core.layout import load_layout

ROOT = Path(__file__).resolve().parent.parent
LAYOUT = (ROOT / "layouts" / "blackwell-ultra.yaml").read_text()
CONSTANTS = (ROOT / "twin" / "core" / "catalog" / "data" / "constants.yaml").read_text()
SCENARIO = f"""\
name: fuzz
layout: {ROOT / "layouts" / "blackwell-ultra.yaml"}
seed: 3
duration: 2m
warmup: 30s
events:
  - at: 10s
    do: surge 2 30s
  - every: 20s
    do: fail nvl-01-01 for 5s
expect:
  - output_tok_s > 0
  - ttft_p95_s <= 2s during 30s..1m
"""

HOSTILE = st.sampled_from(
    [
        ".nan",
        ".inf",
        "-.inf",
        "-1",
        "0",
        "1e999",
        "1.0e+999",
        "9" * 30,
        "9" * 5000,
        "-9223372036854775809",
        "1e-9s",
        "999999999999999999999m",
        "1e9/s",
        "nanx",
        "-1x",
        "1e999x",
        "''",
        "[]",
        "{}",
        "null",
        "true",
        "&a [*a]",
        "*nope",
        "? [a, b]",
        '"\\x01"',
        "x" * 300,
        "100000",
        "2MW",
        "1e300MW",
        "0s",
    ]
)
VALUE = st.one_of(
    HOSTILE, st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n"), max_size=40)
)
SETTINGS = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _twin(*argv: str) -> tuple[int, str]:
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(list(argv))
    return code, err.getvalue()


def _mutate(text: str, index: int, value: str) -> str:
    """Replace the value of the ``index``-th ``key: value`` line (wrapping round)."""
    lines = text.splitlines()
    keyed = [i for i, ln in enumerate(lines) if re.match(r"^\s*(- )?[a-z_]+: \S", ln)]
    i = keyed[index % len(keyed)]
    key = re.match(r"^(\s*(?:- )?[a-z_]+: )", lines[i]).group(1)
    lines[i] = key + value
    return "\n".join(lines) + "\n"


def _assert_clean(path: Path, code: int, err: str) -> None:
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in err, err
    if code == 2:
        for line in err.strip().splitlines():
            assert re.match(rf"^(twin: )?{re.escape(str(path))}:\d+: ", line), (
                f"no FILE:LINE in {line!r}"
            )
            assert len(line) < 600


@SETTINGS
@given(index=st.integers(0, 200), value=VALUE)
def test_a_mutated_layout_is_checked_cleanly(tmp_path_factory, index, value):
    path = tmp_path_factory.mktemp("fuzz") / "layout.yaml"
    path.write_text(_mutate(LAYOUT, index, value), encoding="utf-8")
    code, err = _twin("check", str(path))
    _assert_clean(path, code, err)


@SETTINGS
@given(index=st.integers(0, 200), value=VALUE)
def test_a_mutated_scenario_is_checked_cleanly(tmp_path_factory, index, value):
    path = tmp_path_factory.mktemp("fuzz") / "scenario.yaml"
    path.write_text(_mutate(SCENARIO, index, value), encoding="utf-8")
    code, err = _twin("check", str(path))
    _assert_clean(path, code, err)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(index=st.integers(0, 200), value=VALUE)
def test_a_mutated_catalog_is_loaded_cleanly(tmp_path_factory, index, value):
    folder = tmp_path_factory.mktemp("cat")
    path = folder / "constants.yaml"
    path.write_text(_mutate(CONSTANTS, index, value), encoding="utf-8")
    code, err = _twin("--catalog", str(folder), "check", "default")
    assert code in (0, 2) and "Traceback" not in err, err
    if code == 2:
        assert all(
            line.startswith(f"{path}:") or line.startswith("layouts/") or ":" in line
            for line in err.strip().splitlines()
        ), err
        assert f"{path}:" in err, err


WORDS = st.sampled_from(
    [
        *VERBS,
        "save!",
        "row-a",
        "nvl-01",
        "nvl-01-01",
        "nvl-01-01-n1",
        "nvl-01-01-n1-g3",
        "feed-a",
        "cdu-1",
        "spine-1",
        "leaf-1",
        "r1",
        "oss-120b",
        "chat",
        "gb300",
        "b300",
        "h100",
        "for",
        "off",
        "on",
        "all",
        "max",
        "1e300",
        "1e17",
        "nan",
        "inf",
        "-1",
        "0",
        "0.5",
        "50%",
        "150%",
        "3x",
        "10m",
        "1e999s",
        "30MW",
        "1e300MW",
        "kv",
        "rr",
        "\x1b",
        "\x00",
        "9" * 400,
    ]
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(words=st.lists(WORDS, min_size=0, max_size=5))
def test_a_random_command_line_parses_or_is_one_line_refused(words):
    line = " ".join(words)
    try:
        cmd = parse_command(line)
    except CommandError as e:
        assert "\n" not in str(e) and len(str(e)) < 600
    else:
        assert parse_command(cmd.text) == cmd


_FACTORY: list[Factory] = []


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    lines=st.lists(st.lists(WORDS, min_size=1, max_size=4).map(" ".join), min_size=1, max_size=6)
)
def test_random_command_sequences_never_crash_the_engine(lines):
    if not _FACTORY:
        _FACTORY.append(Factory(load_layout("blackwell-ultra"), seed=3))
    f = _FACTORY[0]
    for line in lines:
        try:
            cmd = parse_command(line)
            if hasattr(f, "apply") and cmd.__class__.__name__ not in (
                "Save",
                "Speed",
                "Pause",
                "Resume",
                "Ack",
            ):
                f.apply(cmd)
        except TwinError:
            pass
        f.advance_to(f.now + 2 * f.dt)
