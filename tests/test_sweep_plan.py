"""Sweep plans without running them: the grid they expand to, and their mistakes as
``FILE:LINE: message`` from ``twin check`` and ``twin sweep``; the scenario overrides of
deployments that make replicas and prefill share sweepable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from twin.cli import main
from twin.core.sweep import load_plan
from twin.core.yamlsrc import load_text

REPO = Path(__file__).resolve().parents[1]
POD = REPO / "scenarios" / "layouts" / "inference-pod.yaml"

PLAN = f"""\
sweep: pod
base: {POD}
duration: 1m
seeds: [1, 2, 3]
axes:
  - name: routing
    set: overrides.routing
    values: [least-loaded, round-robin]
  - name: cap
    do: "cap {{}}"
    at: 10s
    values: [null, 250kW]
keep: [output_tok_s, slo_attainment]
"""


def test_a_plan_expands_into_one_scenario_per_grid_point_and_seed(tmp_path, catalog):
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN, encoding="utf-8")
    plan = load_plan(path, catalog)
    runs = plan.runs()
    assert len(runs) == 2 * 2 * 3
    assert len({r.id for r in runs}) == len(runs)
    assert [r.id for r in load_plan(path, catalog).runs()] == [r.id for r in runs]
    capped = next(r for r in runs if r.point == {"routing": "round-robin", "cap": "250kW"})
    doc = load_text(capped.text, "run.yaml")
    assert doc["overrides"] == {"routing": "round-robin"}
    assert doc["events"] == [{"at": "10s", "do": "cap 250kW"}]
    assert doc["duration"] == "1m" and doc["seed"] == capped.seed
    plain = next(r for r in runs if r.point["cap"] == "none")
    assert "events" not in load_text(plain.text, "run.yaml")


def test_a_scenario_base_keeps_its_events_and_expectations(tmp_path, catalog):
    base = REPO / "scenarios" / "straggler-tail-latency.yaml"
    path = tmp_path / "plan.yaml"
    path.write_text(
        f"sweep: s\nbase: {base}\naxes:\n  - set: overrides.routing\n"
        "    values: [least-loaded, slo-aware]\n",
        encoding="utf-8",
    )
    plan = load_plan(path, catalog)
    base_doc = load_text(base.read_text(), str(base))
    run = plan.runs()[0]
    doc = load_text(run.text, "run.yaml")
    assert doc["expect"] == base_doc["expect"] and doc["events"] == base_doc["events"]
    assert Path(doc["layout"]).is_absolute() and Path(doc["layout"]).is_file()
    assert plan.seeds == (base_doc["seed"],)


BAD = f"""\
sweep: bad
base: {POD}
duration: 1x
seeds: [1, -2]
colour: red
axes:
  - name: routing
    set: overrides.routing
    values: [least-loaded, fastest]
  - set: seed
    values: [1]
  - name: warp
    do: "warp {{}}"
    values: [9]
  - name: pod
    set: overrides.rows.pod
    values: [h200, h900]
keep: [output_tok_s, tokens]
"""


@pytest.mark.parametrize("command", [["check"], ["sweep", "--quiet"]])
def test_a_bad_plan_gives_every_mistake_as_file_line_in_one_pass(tmp_path, capsys, command):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD, encoding="utf-8")
    assert main([*command, str(path)]) == 2
    err = capsys.readouterr().err
    lines = dict(re.findall(rf"^{re.escape(str(path))}:(\d+): (.*)$", err, re.M))
    assert set(lines) == {"3", "4", "5", "9", "10", "14", "17", "18"}, err
    assert "fastest" in lines["9"] and "h900" in lines["17"] and "'tokens'" in lines["18"]
    assert "colour" in lines["5"] and "warp" in lines["14"]
    assert not (tmp_path / "bad-sweep").exists()


def test_check_accepts_a_good_plan_and_says_how_many_runs(tmp_path, capsys):
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN, encoding="utf-8")
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: ok — sweep pod:" in out and "× 3 seeds = 12 runs" in out


def test_scenario_overrides_size_deployments_and_their_prefill_share(tmp_path, capsys):
    from twin.core.scenario import load_scenario

    sc = tmp_path / "s.yaml"
    sc.write_text(
        "name: s\nlayout: default\nduration: 1m\noverrides:\n  deployments:\n"
        "    r1-b200: {replicas: 32}\n    r1-nvl: {prefill_share: 0.5}\n",
        encoding="utf-8",
    )
    deps = {d.id: d for d in load_scenario(sc).layout.deployments}
    assert deps["r1-b200"].replicas == 32 and deps["r1-nvl"].prefill_share == 0.5
    sc.write_text(
        "name: s\nlayout: default\nduration: 1m\noverrides:\n  deployments:\n"
        "    r1-b200: {replicas: 9999}\n    llama-70b: {prefill_share: 0.5}\n"
        "    nope: {replicas: 2}\n",
        encoding="utf-8",
    )
    assert main(["check", str(sc)]) == 2
    err = capsys.readouterr().err
    assert f"{sc}:6: overrides.deployments.r1-b200: 9999 replicas" in err
    assert (
        f"{sc}:7: overrides.deployments.llama-70b.prefill_share: llama-70b is not disaggregated"
        in err
    )
    assert f"{sc}:8: overrides.deployments: unknown deployment 'nope'" in err


def test_the_readme_plan_example_is_a_valid_plan_and_its_key_table_is_the_format(tmp_path, capsys):
    from twin.core.sweep import PLAN_KEYS

    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Capacity planning: `twin sweep`", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    path = tmp_path / "example.yaml"
    path.write_text(block, encoding="utf-8")
    assert main(["check", str(path)]) == 0, capsys.readouterr().err
    assert "ok — sweep reasoning-rows" in capsys.readouterr().out
    table = re.findall(r"^\| `(\w+)` \| ", section, re.M)
    assert table == list(PLAN_KEYS)


HOSTILE = [".nan", ".inf", "-1", "0", "1e999", "9" * 400, "''", "[]", "{}", "null", "true",
           "&a [*a]", "*nope", "? [a, b]", "x" * 300, "1e-9s", "[1, 1]", "{a: 1}", "[[]]",
           "-9223372036854775809", "{}x", "/dev/zero", "../../etc", "é\u202e"]  # fmt: skip


def _mutate(text: str, index: int, value: str) -> str:
    lines = text.splitlines()
    keyed = [i for i, ln in enumerate(lines) if re.match(r"^\s*(- )?[a-z_]+: \S", ln)]
    i = keyed[index % len(keyed)]
    lines[i] = re.match(r"^(\s*(?:- )?[a-z_]+: )", lines[i]).group(1) + value
    return "\n".join(lines) + "\n"


def test_a_mutated_plan_is_checked_cleanly(tmp_path_factory):
    """Every key of a plan given hostile values: exit 0 or 2, never a traceback, and each
    refusal names the plan's FILE:LINE."""
    import contextlib
    import io

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=60, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(index=st.integers(0, 40), value=st.sampled_from(HOSTILE))
    def check(index, value):
        path = tmp_path_factory.mktemp("fuzz") / "plan.yaml"
        path.write_text(_mutate(PLAN, index, value), encoding="utf-8")
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["check", str(path)])
        assert code in (0, 2) and "Traceback" not in err.getvalue(), err.getvalue()
        for line in err.getvalue().strip().splitlines():
            assert re.match(rf"^(twin: )?{re.escape(str(path))}:\d+: ", line), line

    check()
