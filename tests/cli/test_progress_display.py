"""The progress displays off a terminal (issue 26): whole-number counts, units, the budget."""

import io

from rich.console import Console

from hume_ssl.cli.progress import fixmatch_progress, predict_progress
from hume_ssl.core.progress import LineProgress


def _console():
    buf = io.StringIO()
    return Console(file=buf, force_terminal=False, width=200), buf


def test_plain_lines_count_in_whole_numbers_with_units():
    con, buf = _console()
    p = LineProgress(con, interval=0.0)
    t = p.add_task("fixmatch", total=2**20, unit="steps", info="")
    p.update(t, completed=0)
    p.update(t, completed=64)
    text = buf.getvalue()
    assert "fixmatch 0/1048576 steps" in text and "e+06" not in text
    assert "steps/s" in text


def test_fixmatch_display_while_the_budget_is_timed_has_no_total_then_the_fitted_one():
    con, buf = _console()
    with fixmatch_progress(con) as cb:
        cb("start", {"step": 0, "steps": 200, "device": "cpu", "world": 1,
                     "budget_minutes": 2.0})
        cb("step", {"step": 1, "total_steps": 200})
        first = buf.getvalue()
        cb("budget", {"total_steps": 120, "s_per_step": 0.5, "s_per_eval": 1.0})
    assert "timing the first steps to fit --budget-minutes 2" in first
    assert "/200" not in first and "ETA" not in first
    assert "budget: 120 steps" in buf.getvalue()


def test_predict_shows_images_and_images_per_second():
    con, buf = _console()
    with predict_progress(con) as cb:
        cb("predict", {"done": 1024, "total": 10000})
    assert "predict 1024/10000 images" in buf.getvalue() and "images/s" in buf.getvalue()
