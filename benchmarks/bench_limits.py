"""What the input limits cost and save: the time to refuse hostile files, and the time and
memory of a layout at the rack limit (``twin.core.limits.MAX_RACKS``).

    python benchmarks/bench_limits.py [--skip-big]

Prints figures; asserts nothing (targets: every refusal well under a second; a layout at
the limit checks in seconds and runs a simulated minute without exhausting memory).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twin.core import limits  # noqa: E402
from twin.core.errors import InputError  # noqa: E402
from twin.core.yamlsrc import load_file  # noqa: E402

LAUGHS = "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


def refusal(name: str, text: str | bytes, folder: Path) -> None:
    path = folder / f"{name}.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    start = time.perf_counter()
    try:
        load_file(path)
        verdict = "accepted"
    except InputError as e:
        verdict = str(e).splitlines()[0].split(": ", 1)[1][:70]
    print(f"  {name:<22} {(time.perf_counter() - start) * 1e3:8.1f} ms  {verdict}")


def big_layout(folder: Path) -> None:
    import re

    from twin.core.engine import Factory
    from twin.core.layout import load_layout

    text = (ROOT / "layouts" / "hyperscale.yaml").read_text()
    path = folder / "at-the-limit.yaml"
    per_entry = (
        limits.MAX_RACKS // len(re.findall(r"count: \d+", text)) // 26
    )  # row entries of 26-rack rows
    text = re.sub(r"count: \d+", f"count: {per_entry}", text)
    path.write_text(text)
    start = time.perf_counter()
    try:
        layout = load_layout(path)
    except InputError as e:
        print(f"  at-the-limit layout refused: {str(e).splitlines()[0][:100]}")
        return
    t_load = time.perf_counter() - start
    start = time.perf_counter()
    f = Factory(layout)
    t_build = time.perf_counter() - start
    start = time.perf_counter()
    f.advance_to(60.0)
    t_run = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"  {len(layout.racks):,} racks, {layout.gpus_total:,} GPUs: load {t_load:.2f} s, build {t_build:.2f} s, "
        f"1 simulated minute {t_run:.2f} s, peak RSS {rss:,.0f} MB"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-big", action="store_true", help="skip the layout at the rack limit")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("refusing hostile YAML (load_file):")
        refusal("billion-laughs", LAUGHS, folder)
        refusal("recursive-alias", "a: &a [*a]\n", folder)
        refusal("500-levels", "a: " + "[" * 500 + "]" * 500 + "\n", folder)
        refusal("5000-digit-int", "a: " + "9" * 5000 + "\n", folder)
        refusal("nul-byte", b"a: b\x00c\n", folder)
        refusal("50-MB", b"# " + b"x" * (50 * 2**20) + b"\n", folder)
        refusal("9-MB-list", "a: [" + ", ".join(["1"] * (9 * 2**20 // 3)) + "]\n", folder)
        refusal("240k-values-accepted", "a: [" + ", ".join(["1"] * 240_000) + "]\n", folder)
        if not args.skip_big:
            print(f"a layout at the rack limit ({limits.MAX_RACKS:,}):")
            big_layout(folder)


if __name__ == "__main__":
    main()
