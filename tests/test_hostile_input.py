"""Issue 10's corpus: every bad input it lists is a clean refusal — ``FILE:LINE: message`` or
one CLI line, exit 2, no traceback, in well under a second — and nothing that passes
``twin check`` fails to run."""

from __future__ import annotations

import re
import textwrap
import time
from pathlib import Path

import pytest

from twin.cli import main
from twin.core.commands import CommandError, parse_command
from twin.core.layout import load_layout

ROOT = Path(__file__).resolve().parent.parent
SCENARIO_HEAD = "name: t\nlayout: blackwell-ultra\nseed: 3\n"


def twin(capsys, *argv: str) -> tuple[int, str]:
    start = time.monotonic()
    code = main(list(argv))
    err = capsys.readouterr().err
    assert time.monotonic() - start < 30, "a refusal should be quick"
    assert "Traceback" not in err
    return code, err


def refused_at(capsys, path: Path, line: int | None, *words: str) -> str:
    """``twin check path`` exits 2 naming ``path:line`` (any line if None) with ``words``."""
    code, err = twin(capsys, "check", str(path))
    assert code == 2, err
    first = err.strip().splitlines()
    hits = [
        ln
        for ln in first
        if ln.removeprefix("twin: ").startswith(f"{path}:")
        and (line is None or ln.removeprefix("twin: ").startswith(f"{path}:{line}:"))
        and all(w in ln for w in words)
    ]
    assert hits, f"expected {path}:{line} with {words}, got: {err}"
    assert all(len(ln) < 500 for ln in first), "every line short, a bad value clipped"
    return err


def write(tmp_path: Path, text: str, name: str = "x.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def layout_variant(old: str, new: str) -> str:
    text = (ROOT / "layouts" / "blackwell-ultra.yaml").read_text()
    assert old in text, old
    return text.replace(old, new, 1)


def scenario(tmp_path: Path, body: str) -> Path:
    # the layout by path, so the scenario can live in tmp_path
    head = SCENARIO_HEAD.replace("blackwell-ultra", str(ROOT / "layouts" / "blackwell-ultra.yaml"))
    return write(tmp_path, head + textwrap.dedent(body), "s.yaml")


# ---- YAML attacks -----------------------------------------------------------------------

LAUGHS = "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (LAUGHS, None, ("values once aliases are expanded",)),
        ("a: &a [*a]\n", 1, ("recursive anchor",)),
        ("a: " + "[" * 500 + "]" * 500 + "\n", 1, ("nested more than 64 levels",)),
        ("name: x\nb: a\x00b\n", 2, ("NUL",)),
        ("name: x\n? [a, b]\n: 1\n", 2, ("key must be a plain word",)),
        ("name: x\nseed: " + "9" * 5000 + "\n", 2, ("not a number", "5,000 characters")),
        ("name: x\nsite: {pue: .nan}\n", 2, ("finite",)),
        ('name: x\nb: "\x01"\n', 2, ("control character",)),
    ],
    ids=[
        "billion-laughs",
        "recursive-alias",
        "500-levels",
        "nul",
        "complex-key",
        "4300-digits",
        "nan",
        "control",
    ],
)
def test_a_hostile_yaml_file_is_refused_at_its_line(tmp_path, capsys, text, line, words):
    refused_at(capsys, write(tmp_path, text), line, *words)


def test_an_oversized_file_is_refused_without_being_read(tmp_path, capsys):
    p = tmp_path / "big.yaml"
    p.write_text("# " + "x" * (11 * 2**20) + "\n")
    refused_at(capsys, p, 1, "too large", "10 MB")


def test_the_alias_limits_apply_to_catalogs_too(tmp_path, capsys):
    code, err = twin(
        capsys, "--catalog", str(write(tmp_path, LAUGHS, "cat.yaml")), "check", "default"
    )
    assert code == 2 and "cat.yaml:" in err and "aliases" in err


# ---- numbers in layouts -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("pue: 1.12", "pue: .nan", ("finite",)),
        ("pue: 1.12", "pue: 1.0e+999", ("finite",)),
        ("tick: 1s", "tick: 1e999s", ("finite",)),
        ("tick: 1s", "tick: 1e-9s", ("out of range", "10ms")),
        ("seed: ", "seed: -1 #", ("whole number",)),
        ("spines: ", "spines: 100000 #", ("from 1 to 512",)),
    ],
    ids=["pue-nan", "pue-inf", "tick-inf", "tick-1ns", "seed-negative", "spines"],
)
def test_a_bad_number_in_a_layout_is_refused_at_its_line(tmp_path, capsys, old, new, words):
    text = layout_variant(old, new)
    line = (
        text.splitlines().index(
            next(ln for ln in text.splitlines() if new.split("#")[0].strip() in ln)
        )
        + 1
    )
    refused_at(capsys, write(tmp_path, text), line, *words)


def test_a_hundred_thousand_rows_are_refused_with_the_limit_and_why(tmp_path, capsys):
    text = layout_variant("count: 4,", "count: 100000,")
    err = refused_at(capsys, write(tmp_path, text), None, "2,000")
    assert "rows" in err


@pytest.mark.parametrize("isl", ["9223372036854775808", "1e999k", ".inf", "9223372036854775807"])
def test_token_counts_past_any_context_are_refused_by_check(tmp_path, capsys, isl):
    text = layout_variant("isl:", f"isl: {isl}\n    x_isl:")
    text = re.sub(r"\n    x_isl:.*", "", text)
    refused_at(capsys, write(tmp_path, text), None)


def test_a_long_bad_value_is_quoted_to_sixty_characters(tmp_path, capsys):
    text = layout_variant("routing: slo-aware", "routing: " + "z" * 100_000)
    err = refused_at(capsys, write(tmp_path, text), None, "routing", "100,000 characters")
    assert len(err) < 600


def test_a_rate_with_an_exponent_is_read_like_the_same_rate_written_out(tmp_path):
    text = (ROOT / "layouts" / "blackwell-ultra.yaml").read_text()
    rate = re.search(r"rate: (\S+)", text)
    assert rate is not None
    a = write(tmp_path, text.replace(rate.group(0), "rate: 1e3/s", 1), "a.yaml")
    b = write(tmp_path, text.replace(rate.group(0), "rate: 1000/s", 1), "b.yaml")
    assert load_layout(a).workloads[0].rate_rps == load_layout(b).workloads[0].rate_rps == 1000.0


# ---- numbers in scenarios ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("duration: 999999999999999999999999999999m\n", ("90 days",)),
        ("duration: 1e999m\n", ("finite",)),
        ("duration: 10m\nwarmup: 999999999999999999999999999999m\n", ("7 days",)),
        ("duration: 10m\nseed: -1\n", ("seed",)),
        ("duration: 10m\nevents:\n  - at: 1m\n    do: surge 1e17\n", ("surge", "at most 1000")),
        ("duration: 10m\nevents:\n  - at: 1m\n    do: surge 1e300\n", ("surge",)),
        (
            "duration: 10m\nevents:\n  - at: 1m\n    do: swap nvl-01 b3000\n",
            ("unknown GPU 'b3000'",),
        ),
        ("duration: 10m\nexpect:\n  - output_tok_s >= nan\n", ("finite",)),
        ("duration: 10m\nexpect:\n  - output_tok_s >= inf\n", ("finite",)),
        ("duration: 10m\noverrides: {rates: {chat: -1x}}\n", ("factor",)),
        ("duration: 10m\noverrides: {rates: {chat: nanx}}\n", ("factor",)),
        ("duration: 10m\noverrides: {rates: {chat: 1e999x}}\n", ("factor",)),
        ("duration: 10m\noverrides: {rates: {chat: 99999999999999999999999999/s}}\n", ("rate",)),
        ("duration: 80d\ntick: 10ms\n", ("ticks",)),
    ],
    ids=[
        "duration-huge",
        "duration-inf",
        "warmup-huge",
        "seed-negative",
        "surge-1e17",
        "surge-1e300",
        "swap-typo",
        "expect-nan",
        "expect-inf",
        "rate-negative",
        "rate-nan",
        "rate-inf",
        "rate-huge",
        "too-many-ticks",
    ],
)
def test_a_bad_value_in_a_scenario_is_refused_by_check(tmp_path, capsys, body, words):
    p = scenario(tmp_path, body)
    refused_at(capsys, p, None, *words)


def test_burstiness_infinity_in_a_layout_is_refused(tmp_path, capsys):
    text = layout_variant("isl:", "burstiness: .inf\n    isl:")
    refused_at(capsys, write(tmp_path, text), None, "finite")


# ---- CLI options and commands --------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (("run", "default", "--for", "1e999s"), ("--for", "finite")),
        (("run", "default", "--for", "999999999999999999999m"), ("--for", "90 days")),
        (("run", "default", "--tick", "1e-9s"), ("--tick", "10ms")),
        (("run", "default", "--seed", "-1"), ("--seed",)),
        (("compare", "default", "--with", "surge 1e300"), ("surge",)),
        (("compare", "default", "--with", "surge 3", "--for", "1e999m"), ("--for",)),
        (("perf", "--gpu", "h100", "--model", "llama-3.3-70b", "--tps-user", "nan"), ("tps-user",)),
        (
            ("perf", "--gpu", "h100", "--model", "llama-3.3-70b", "--isl", "9223372036854775808"),
            ("isl",),
        ),
        (("--seed", "-1", "default"), ("seed",)),
        (("--speed", "inf", "default"), ("speed",)),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, tuple) and len(a) > 2 else None,
)
def test_a_bad_option_is_one_line_and_exit_2(capsys, argv, words):
    code, err = twin(capsys, *argv)
    assert code == 2, err
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("usage:") and ln.strip()]
    assert len(lines) <= 2 and all(w in err for w in words), err


@pytest.mark.parametrize(
    "line",
    [
        "surge 1e300",
        "surge 1e17",
        "surge nanx",
        "surge 1e999x",
        "straggle node-1 1e9",
        "speed 1e300",
        "scale llama-70b 99999999999",
        "fail rack-a01 for 1e999s",
        "cap 1e300MW",
        "fail row-a\x1b[31m",
        "fail " + "x" * 100_000,
    ],
)
def test_a_command_out_of_range_is_one_short_line(line):
    with pytest.raises(CommandError) as caught:
        parse_command(line)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 400


# ---- what passes check runs ----------------------------------------------------------------


def test_a_model_that_fits_nowhere_is_a_check_error_not_a_run_error(tmp_path, capsys):
    text = (ROOT / "layouts" / "blackwell-ultra.yaml").read_text()
    text = re.sub(r"(isl: )\S+", r"\g<1>9M", text, count=1)
    p = write(tmp_path, text)
    code, err = twin(capsys, "check", str(p))
    if code == 0:  # then it must run
        assert main(["run", str(p), "--for", "1m", "--quiet"]) == 0
    else:
        assert code == 2 and f"{p}:" in err


def test_every_shipped_file_still_passes_check(capsys):
    code, err = twin(capsys, "check", str(ROOT / "layouts"), str(ROOT / "scenarios"))
    assert code == 0, err


# ---- issue 11: a failed command fails the run and shows in the report ----------------------


def test_a_command_that_fails_at_run_time_fails_the_run_and_the_markdown_says_so(tmp_path, capsys):
    p = scenario(
        tmp_path,
        """\
        duration: 2m
        events:
          - at: 10s
            do: fail nvl-01-01
          - at: 20s
            do: fail nvl-01-01
        expect:
          - ttft_p95_s < 1h
        """,
    )
    md = tmp_path / "r.md"
    code = main(["run", str(p), "--quiet", "--markdown", str(md)])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 1
    assert (
        "command failed" in out and "already failed" in out and "scripted command(s) failed" in out
    )
    text = md.read_text()
    assert "## Commands" in text and "✘" in text and "already failed" in text
    assert "scripted command(s) failed" in text
    # observed values carry their unit: TTFT in ms or s, never a bare 0.016788
    row = next(ln for ln in text.splitlines() if "ttft_p95_s < 1h" in ln)
    assert re.search(r"\| [0-9.,]+ (ms|s) \|", row), row


def test_the_readme_states_the_limits_the_code_enforces():
    from twin.core import limits
    from twin.core.yamlsrc import MAX_DEPTH, MAX_FILE_BYTES, MAX_VALUES

    text = (ROOT / "README.md").read_text()
    table = text[text.index("### What input is accepted") :]
    for n in (
        limits.MAX_RACKS,
        limits.MAX_ROWS,
        limits.MAX_GPUS_PER_RACK,
        limits.MAX_SPINES,
        limits.MAX_LINKS,
        limits.MAX_REPLICAS,
        limits.MAX_TOKENS,
        limits.MAX_TICKS,
        MAX_VALUES,
        int(limits.MAX_RATE_RPS),
        int(limits.MAX_FACTOR),
        int(limits.MAX_SPEED),
    ):
        assert f"{n:,}" in table, n
    assert f"≤ {MAX_FILE_BYTES // 2**20} MB, ≤ {MAX_DEPTH} levels" in table
    assert limits.MAX_DURATION_S == 90 * 86400 and "90 days" in table


# ---- layouts: names and references ------------------------------------------------------------


def test_a_rack_named_twice_in_a_placement_is_refused(tmp_path, capsys):
    text = layout_variant(
        "placement: [nvl-01, nvl-02, nvl-03]", "placement: [nvl-01, nvl-02, nvl-03, nvl-01-05]"
    )
    refused_at(capsys, write(tmp_path, text), None, "names rack 'nvl-01-05' again", "by 'nvl-01'")


def test_an_id_starting_with_a_digit_is_refused_because_cap_could_not_name_it(tmp_path, capsys):
    text = layout_variant("{id: nvl,", "{id: 7nvl,").replace("nvl-0", "7nvl-0")
    refused_at(capsys, write(tmp_path, text), None, "starts with a letter")


def test_more_pdus_than_racks_blames_the_pdus_not_a_missing_feed(tmp_path, capsys):
    text = layout_variant("racks: 18, pdus: 3", "racks: 2, pdus: 3")
    err = refused_at(capsys, write(tmp_path, text), None, "3 PDUs for 2 racks")
    assert "fed by no PDU" not in err
