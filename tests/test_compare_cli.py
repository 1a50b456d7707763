"""`twin compare --with`: says when the change has not finished inside the window."""

import json

from twin.cli import main


def test_compare_says_a_swap_is_still_under_way_at_the_end_of_the_window(tmp_path, capsys):
    out = tmp_path / "cmp.json"
    assert (
        main(
            [
                "compare",
                "blackwell-ultra",
                "--with",
                "swap nvl-01 b200",
                "--at",
                "1m",
                "--for",
                "3m",
                "--quiet",
                "--report",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "'swap nvl-01 b200' is still under way when the window ends" in text
    assert "8h00m" in text and "B measures the outage" in text
    assert json.loads(out.read_text())["b"]["in_progress"]


def test_compare_of_a_change_that_is_done_says_nothing_more(capsys):
    assert main(["compare", "blackwell-ultra", "--with", "cap 5MW", "--for", "2m", "--quiet"]) == 0
    assert "still under way" not in capsys.readouterr().out
