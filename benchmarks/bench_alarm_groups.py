"""How long grouping the alarm log by cause takes (the events view redraws it when alarms arrive).

    python benchmarks/bench_alarm_groups.py

A full log (2,000 entries, the AlarmBook's bound) on the hyperscale layout: a loop
failure and a throttle alarm on every rack, the worst the view meets. Goal: well under a
frame (200 ms at 5 fps); prints the figure, asserts nothing.
"""

import time

from twin.core.catalog import load_catalog
from twin.core.engine.snapshot import Event
from twin.core.layout import load_layout
from twin.frontends.tui.alarms import group_alarms
from twin.frontends.tui.model import AlarmBook, Topology


def main() -> None:
    cat = load_catalog()
    topo = Topology.of(load_layout("hyperscale", cat))
    book = AlarmBook()
    racks = topo.rack_ids
    events = [Event(1, 0.0, "critical", "loop-1", "loop failed (operator)")]
    events += [
        Event(
            i + 2,
            10 + i * 0.1,
            "critical",
            racks[i % len(racks)],
            "GPUs at 90 °C: thermal throttle",
        )
        for i in range(AlarmBook.KEEP - 1)
    ]
    book.merge(events)
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        groups = group_alarms(book.entries, topo)
        runs.append(time.perf_counter() - t0)
    print(
        f"group_alarms: {len(book.entries):,} entries, {len(topo.rack_ids):,} racks → {len(groups):,} causes "
        f"in {min(runs) * 1000:.1f} ms (best of 5)"
    )


if __name__ == "__main__":
    main()
