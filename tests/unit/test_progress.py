"""Progress bars: drawn on a terminal, absent from pipes and logs (whose readers parse lines)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from autoscaler.cli import progress_bar
from autoscaler.demo import hours_bar


def test_a_progress_bar_is_drawn_on_a_terminal() -> None:
    screen = io.StringIO()
    with progress_bar("hours", 3, Console(file=screen, force_terminal=True, width=100)) as advance:
        for done in (1, 2, 3):
            advance(done)
    assert "3/3" in screen.getvalue()


def test_no_progress_bar_where_the_output_is_not_a_terminal() -> None:
    pipe = io.StringIO()
    with progress_bar("hours", 3, Console(file=pipe, force_terminal=False)) as advance:
        advance(3)
    assert pipe.getvalue() == ""


def test_the_demo_prints_its_hour_lines_plainly_when_not_on_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with hours_bar(2) as show:
        show("  05:00 UTC shadow", 1)
        show("  06:00 UTC live", 2)
    out, err = capsys.readouterr()
    assert out == "  05:00 UTC shadow\n  06:00 UTC live\n"
    assert err == ""
