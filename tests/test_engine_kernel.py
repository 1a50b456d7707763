"""The compiled kernels and the SimPy clock.

The per-replica work of a tick is compiled with numba; with ``NUMBA_DISABLE_JIT=1`` the
very same functions run as plain Python (what a debugger or coverage sees), and must give
the same run. SimPy drives the tick clock: how a run is cut into ``advance_to`` calls
changes nothing, and a tick that raised does not stop the clock for good.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import simpy
from engine_helpers import cmd

from twin.core.engine import Factory

TESTS = Path(__file__).resolve().parent

RUN = """
import json, sys
sys.path.insert(0, {tests!r})
from engine_helpers import small_layout, cmd
from twin.core.engine import Factory
from pathlib import Path
f = Factory(small_layout(Path({tmp!r})), seed=5)
f.advance_to(10)
for c in ("straggle row-a-01 3", "route least-loaded", "surge 3 5s"):
    cmd(f, c)
f.advance_to(20)
print(json.dumps({{k: float(v) for k, v in f.run_summary().items()}}))
"""


def _summary(tmp_path: Path, disable_jit: bool) -> dict:
    tmp_path.mkdir()
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1" if disable_jit else "0"}
    code = RUN.format(tests=str(TESTS), tmp=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_kernels_run_the_same_compiled_and_as_plain_python(tmp_path):
    compiled = _summary(tmp_path / "a", False)
    plain = _summary(tmp_path / "b", True)
    assert compiled["requests"] > 0 and compiled["output_tok_s"] > 0
    assert compiled.keys() == plain.keys()
    for k, v in compiled.items():
        assert plain[k] == pytest.approx(v, rel=1e-9, abs=1e-12, nan_ok=True), k


def test_simpy_drives_the_clock_and_small_steps_equal_one_big_one(small):
    a, b = Factory(small, seed=2), Factory(small, seed=2)
    assert isinstance(a.env, simpy.Environment)
    a.advance_to(30)
    t = 0.0
    while t < 30:
        t = round(t + 0.3, 6)
        b.advance_to(min(t, 30.0))
    assert a.tick_n == b.tick_n == int(a.env.now) == int(b.env.now) == 60  # 0.5 s ticks
    assert a.checkpoint() == b.checkpoint()


def test_a_tick_that_raises_does_not_stop_the_clock(small, monkeypatch):
    f = Factory(small, seed=2)
    f.advance_to(5)
    real = Factory._tick

    def broken(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(Factory, "_tick", broken)
    with pytest.raises(RuntimeError, match="boom"):
        f.advance_to(6)
    monkeypatch.setattr(Factory, "_tick", real)
    n = f.tick_n
    f.advance_to(10)
    assert f.tick_n == n + (10 - 5.5) / 0.5  # ticks again from where it stopped
    cmd(f, "surge 2 5s")  # and takes commands
    f.advance_to(12)
    assert f.tick_n == 24


START_UP = """
import sys
from twin.core.api import Factory, load_layout
from twin.cli import build_parser
build_parser().format_help()
f = Factory(load_layout("default"))  # built, not stepped
print("numba" in sys.modules)
f.advance_to(1)
print("numba" in sys.modules, f.tick_n)
"""


def test_commands_that_step_no_factory_never_import_numba():
    # twin --help/perf/check/summary parse every subcommand and may build a factory, but
    # run no kernel: they must not pay numba's import (~0.25 s of CPU at each start)
    out = subprocess.run(
        [sys.executable, "-c", START_UP], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[0] == "False"
    assert out[1] == "True 1"  # the first tick imports it and the kernels run
