"""Print the README's calibration table: twin against each public measurement.

    python benchmarks/calibration_table.py
"""

from twin.core.calibration import measurements, predict, predicted_value
from twin.core.catalog import load_catalog


def main() -> None:
    cat = load_catalog()
    print("| measurement | counts | measured tok/s/GPU | twin | error | twin's replica |")
    print("|---|---|---:|---:|---:|---|")
    for m in measurements():
        p = predict(m, cat)
        v = predicted_value(m, p)
        counts = "output" if m.counting == "output" else "input+output"
        print(f"| {m.label} ({m.role}) | {counts} | {m.value:,.0f} | {v:,.0f} | {v / m.value - 1:+.1%} | {p.gpus} × {p.parallelism}, batch {p.batch} |")


if __name__ == "__main__":
    main()
