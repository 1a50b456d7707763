"""`twin run --checkpoint AT=FILE` and `twin resume FILE`: the resumed run writes exactly
the report the uninterrupted run writes — in this process and in a fresh one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from engine_helpers import small_doc, write_layout

from twin.cli import main

SCENARIO = """\
    name: drill
    layout: small.yaml
    seed: 4
    warmup: 20s
    duration: 4m
    events:
      - at: 30s
        do: fail row-a-pdu-1 for 2m
      - at: 40s
        do: surge 2 3m chat
      - when: queue_depth > 1
        do: route least-loaded
    expect:
      - slo_attainment >= 0.1 overall
      - output_tok_s > 0 during 1m..3m
      - pdu row-a-pdu-1 state == failed at 1m
      - rack row-a-01 state == ok at end
    """


def _twin_in_new_process(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run(
        [sys.executable, "-m", "twin", *args], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.fixture(scope="module")
def drill(tmp_path_factory):
    d = tmp_path_factory.mktemp("drill")
    write_layout(d, small_doc(), "small.yaml")
    path = d / "drill.yaml"
    path.write_text(textwrap.dedent(SCENARIO), encoding="utf-8")
    full, md = d / "full.json", d / "full.md"
    rc = main(["run", str(path), "--report", str(full), "--markdown", str(md), "--quiet"])
    return d, path, rc, full.read_bytes(), md.read_bytes()


def test_a_scenario_resumed_mid_drill_writes_the_uninterrupted_report(drill):
    """At 1m the PDU's repair is pending and the surge is running; both checkpoints resume
    to the same report, expectations and their accumulators included."""
    d, path, rc, full, md = drill
    again = d / "again.json"
    cps = [f"--checkpoint=1m={d / 'c1.ckpt'}", f"--checkpoint=150s={d / 'c2.ckpt'}"]
    assert main(["run", str(path), "--report", str(again), "--quiet", *cps]) == rc
    assert again.read_bytes() == full  # writing checkpoints changes nothing
    for cp in ("c1.ckpt", "c2.ckpt"):
        out, out_md = d / f"{cp}.json", d / f"{cp}.md"
        assert (
            main(
                ["resume", str(d / cp), "--report", str(out), "--markdown", str(out_md), "--quiet"]
            )
            == rc
        )
        assert out.read_bytes() == full, cp
        assert out_md.read_bytes() == md, cp
    doc = json.loads(full)
    assert [e["status"] for e in doc["expectations"]] == ["passed"] * 4
    assert any("surge over" in e["message"] for e in doc["events"])


def test_a_layout_run_with_random_faults_resumes_in_a_new_process(tmp_path):
    full, cp, resumed = tmp_path / "full.json", tmp_path / "at.ckpt", tmp_path / "resumed.json"
    assert (
        main(
            [
                "run",
                "hopper-hall",
                "--for",
                "10m",
                "--faults",
                "--seed",
                "9",
                "--quiet",
                "--report",
                str(full),
                "--checkpoint",
                f"4m={cp}",
            ]
        )
        == 0
    )
    assert cp.stat().st_size < 5e6
    p = _twin_in_new_process("resume", str(cp), "--report", str(resumed), "--quiet")
    assert p.returncode == 0, p.stderr
    assert resumed.read_bytes() == full.read_bytes()
    assert "resumed at" in p.stdout and "4m00s" in p.stdout


def test_resume_until_stops_early(drill, tmp_path):
    d, path, *_ = drill
    cp = tmp_path / "c.ckpt"
    assert main(["run", str(path), "--quiet", "--checkpoint", f"1m={cp}"]) in (0, 1)
    out = tmp_path / "until.json"
    main(["resume", str(cp), "--until", "2m", "--report", str(out), "--quiet"])
    doc = json.loads(out.read_text())
    assert doc["end_s"] == pytest.approx(20 + 120)


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda good: b"hello, I am a text file\n", "not a twin checkpoint"),
        (lambda good: good[: len(good) * 2 // 3], "damaged or truncated"),
        (lambda good: good[:20] + bytes(200) + good[220:], "damaged"),
    ],
)
def test_corrupt_truncated_and_foreign_files_are_refused_with_exit_2(
    drill, tmp_path, capsys, make, says
):
    d, path, *_ = drill
    good = tmp_path / "good.ckpt"
    main(["run", str(path), "--quiet", "--checkpoint", f"1m={good}"])
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(make(good.read_bytes()))
    capsys.readouterr()
    assert main(["resume", str(bad), "--quiet"]) == 2
    assert says in _err(capsys)


def test_a_changed_scenario_or_a_missing_file_is_refused(tmp_path, capsys):
    write_layout(tmp_path, small_doc(), "small.yaml")
    path = tmp_path / "drill.yaml"
    path.write_text(textwrap.dedent(SCENARIO), encoding="utf-8")
    cp = tmp_path / "c.ckpt"
    main(["run", str(path), "--quiet", "--checkpoint", f"1m={cp}"])
    path.write_text(textwrap.dedent(SCENARIO).replace("surge 2 3m", "surge 3 3m"), encoding="utf-8")
    capsys.readouterr()
    assert main(["resume", str(cp)]) == 2
    assert "has changed" in _err(capsys)
    assert main(["resume", str(tmp_path / "nope.ckpt")]) == 2
    assert "cannot read" in _err(capsys)


@pytest.mark.parametrize(
    "value, says",
    [
        ("5m", "expected AT=FILE"),
        ("soon=x.ckpt", "soon"),
        ("2h=x.ckpt", "not inside the run"),
        ("1m=/no/such/dir/x.ckpt", "does not exist"),
    ],
)
def test_bad_checkpoint_options_are_refused_in_one_line(value, says, capsys):
    assert main(["run", "blackwell-ultra", "--for", "10m", "--quiet", "--checkpoint", value]) == 2
    assert says in _err(capsys)
