"""The trainer scaffold: budget fitting, run-folder guards, resume keys, signals, the loop."""

import json
import os
import signal
from pathlib import Path

import pytest
import torch

from hume_ssl.core.checkpoint import CHECKPOINT
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.train.budget import units_in_budget
from hume_ssl.train.loop import Trainer
from hume_ssl.train.resume import RUN_LOCK, check_resume_keys, check_run_folder, run_lock
from hume_ssl.train.signals import StopSignals


def test_units_in_budget_counts_steps_and_evaluations():
    # 10 steps per epoch at 1 s, an evaluation (5 s) at the start and every 2 epochs
    evals = lambda e: e // 2 + 1  # noqa: E731
    assert units_in_budget(100, 1.0, 5.0, 0, 10, 50, evals) == 7  # 8 would cost 80 + 25 s
    assert units_in_budget(100, 1.0, 5.0, 0, 10, 3, evals) == 3  # never more than asked
    assert units_in_budget(100, 1.0, 5.0, 40, 10, 50, evals) == 11  # 40 steps already done
    assert units_in_budget(1, 1.0, 5.0, 0, 10, 50, evals) == 0  # not even one epoch fits
    # 25 steps done at 4 per epoch: plans start at 7 epochs (28 steps), never behind the run
    assert units_in_budget(3.0, 1.0, 0.0, 25, 4, 50, lambda e: 0) == 7
    assert units_in_budget(2.0, 1.0, 0.0, 25, 4, 50, lambda e: 0) == 0
    assert units_in_budget(9.0, 1.0, 0.0, 25, 4, 6, lambda e: 0) == 0  # the cap is behind too
    # timed to the schedule's last step: all of it is done (before: 0, "too small")
    assert units_in_budget(0.0, 1.0, 5.0, 24, 4, 6, evals) == 6


def _timed(step_s: float, budget_s, steps: int = 40):
    """(the step StepTimer returned at, its seconds per step) for steps of step_s seconds."""
    import torch

    from hume_ssl.train.budget import StepTimer

    now = [0.0]
    timer = StepTimer(0, torch.device("cpu"), lambda: now[0], budget_s)
    for step in range(1, steps + 1):
        now[0] += step_s
        t = timer.tick(step)
        if t is not None:
            return step, t
    return None


def test_step_timer_ends_each_phase_once_it_has_taken_an_eighth_of_the_budget():
    # fast steps: 5 warm-up steps, then 20 timed, with or without a budget
    assert _timed(0.01, None) == (25, pytest.approx(0.01))
    assert _timed(0.01, 600.0) == (25, pytest.approx(0.01))
    # 10 s steps under a 100 s budget: each phase ends once it has taken 12.5 s (100 / 4 / 2):
    # warm-up after 2 steps, timing after 2 more (40 s in all; 250 s without the budget)
    assert _timed(10.0, 100.0) == (4, pytest.approx(10.0))
    # a step longer than a phase's share: one warm-up step and one timed step, never none
    assert _timed(60.0, 100.0) == (2, pytest.approx(60.0))
    assert _timed(60.0, -5.0) == (2, pytest.approx(60.0))  # the budget already spent


def test_under_torchrun_every_rank_ends_timing_where_rank_0_does(monkeypatch):
    import hume_ssl.train.budget as budget

    # rank 0's clock says a phase is over at every step: this rank follows it, though its own
    # steps are fast (alone it would warm up for 5 steps and time 20)
    monkeypatch.setattr(budget, "broadcast", lambda ends: True)
    assert _timed(0.01, 600.0) == (2, pytest.approx(0.01))
    monkeypatch.setattr(budget, "broadcast", lambda ends: False)  # rank 0 still timing
    assert _timed(0.01, 600.0, steps=100) is None


def test_run_folder_guards(tmp_path):
    check_run_folder(tmp_path, resume=False, what="FixMatch")
    with pytest.raises(HumeSSLError, match="drop --resume"):
        check_run_folder(tmp_path, resume=True, what="FixMatch")
    (tmp_path / CHECKPOINT).write_bytes(b"x")
    with pytest.raises(HumeSSLError, match="already holds a FixMatch run"):
        check_run_folder(tmp_path, resume=False, what="FixMatch")
    check_run_folder(tmp_path, resume=True, what="FixMatch")


@pytest.mark.parametrize("left", ["metrics.json", "model.pt", "backbone.pt"])
def test_a_finished_run_without_its_checkpoint_is_not_trained_into_again(tmp_path, left):
    """Before: with checkpoint.pt removed, a new run appended to the old metrics.csv and left the
    old model's predictions beside the new model."""
    (tmp_path / left).write_text("{}")
    with pytest.raises(HumeSSLError, match=f"holds a finished FixMatch run \\({left}; no"):
        check_run_folder(tmp_path, resume=False, what="FixMatch")


def test_a_start_that_died_before_its_first_checkpoint_is_started_over(tmp_path):
    """A SIGKILL (out of memory, a closed terminal) before the first checkpoint leaves
    config.json and metrics.csv: the same command runs again, from a metrics.csv of its own."""
    (tmp_path / "config.json").write_text(json.dumps({"command": "train-fixmatch"}))
    (tmp_path / "metrics.csv").write_text("step,loss\n5,1.0\n")
    check_run_folder(tmp_path, resume=False, what="FixMatch")

    Counter(tmp_path, 2).fit()  # the loop's new start
    assert not (tmp_path / "metrics.csv").exists()  # the dead start's rows are gone


@pytest.mark.parametrize("other", ["seed", "label", "pretrain"])
def test_a_folder_of_another_commands_run_is_never_written_into(tmp_path, other):
    """Before: only checkpoint.pt was looked for, so train-fixmatch --out OUT/hume overwrote a
    seed run's config.json and metrics.json, and a pretrain folder was called "a FixMatch run,
    pass --resume", after which --resume listed 18 differing fields."""
    (tmp_path / "config.json").write_text(json.dumps({"command": other}))
    with pytest.raises(HumeSSLError, match=f"holds a `{other}` run .*choose another --out"):
        run_lock(tmp_path, "train-fixmatch")
    assert not (tmp_path / RUN_LOCK).exists()  # refused before the lock writes in it
    (tmp_path / "config.json").write_text(json.dumps({"command": "train-fixmatch"}))
    with run_lock(tmp_path, "train-fixmatch"):
        check_run_folder(tmp_path, resume=False, what="FixMatch")


def test_under_torchrun_only_rank_0_removes_a_fresh_folder_that_failed(tmp_path, monkeypatch):
    """Before: a SIGTERM reached rank 1 first; it found no checkpoint yet and removed the run
    folder rank 0 was checkpointing into (a review: `torchrun --nproc_per_node 2 -m hume_ssl
    train-fixmatch ... --out fmD` stopped after 12 s lost the folder and its ~100 steps)."""
    from hume_ssl.core import distributed
    from hume_ssl.train.resume import cleanup_on_early_failure

    for rank, kept in ((1, True), (0, False)):
        out = tmp_path / f"rank{rank}"
        monkeypatch.setattr(distributed, "rank", lambda r=rank: r)
        with pytest.raises(KeyboardInterrupt), cleanup_on_early_failure(out):
            out.mkdir()
            (out / "config.json").write_text("{}")  # rank 0's, before its checkpoint
            raise KeyboardInterrupt
        assert out.exists() == kept, rank


def test_resume_keys_name_every_difference_and_accept_renamed_fields():
    keys = ("lr", "random_state", "arch")
    check_resume_keys({"lr": 0.1, "seed": 3, "arch": "a"}, {"lr": 0.1, "random_state": 3,
                                                            "arch": "a"}, keys)
    with pytest.raises(HumeSSLError, match=r"lr=0.1 \(now 0.2\), arch='a' \(now 'b'\)"):
        check_resume_keys({"lr": 0.1, "random_state": 3, "arch": "a"},
                          {"lr": 0.2, "random_state": 3, "arch": "b"}, keys)


def test_signals_set_a_flag_and_restore_the_handler():
    seen = []
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals(lambda: seen.append(1)):
        os.kill(os.getpid(), signal.SIGTERM)
    assert seen == [1] and signal.getsignal(signal.SIGTERM) is before


class Counter(Trainer):
    """A trainer whose step adds 1: enough to check the loop's schedule of hooks."""

    def __init__(self, out: Path, steps: int, stop_at=None):
        self.out, self.total_steps, self.log_every, self.checkpoint_every = out, steps, 2, 3
        self.callback, self.events, self.value, self.stop_at = None, [], 0, stop_at

    def train_step(self):
        self.step += 1
        self.value += 1
        if self.step == self.stop_at:
            self.request_stop()

    def eval_due(self, last):
        return last or self.step % 4 == 0

    def evaluate(self):
        self.events.append(("eval", self.step))
        return self.value

    def log(self, result):
        self.events.append(("log", self.step, result))

    def save(self):
        self.events.append(("save", self.step))
        (self.out / CHECKPOINT).write_text(f"{self.step} {self.value}")

    def load(self, path):
        self.step, self.value = map(int, path.read_text().split())


def test_loop_schedule_stop_and_resume(tmp_path):
    full = Counter(tmp_path / "full", 6).fit()
    assert full.events == [("log", 2, None), ("save", 3), ("eval", 4), ("log", 4, 4),
                           ("eval", 6), ("log", 6, 6), ("save", 6)]
    part = Counter(tmp_path / "part", 6, stop_at=5)
    with pytest.raises(KeyboardInterrupt, match="step 5"):
        part.fit()
    assert part.events[-1] == ("save", 5)
    resumed = Counter(tmp_path / "part", 6).fit(resume=True)
    assert (resumed.step, resumed.value) == (6, 6)


def test_flops_count_and_mfu():
    import torch

    from hume_ssl.train.throughput import forward_flops, mfu, peak_flops

    lin = torch.nn.Linear(10, 4, bias=False)
    assert forward_flops(lin, torch.zeros(3, 10)) == 2 * 10 * 4  # per sample: 2 x MACs
    assert mfu(1e12, 100.0, 1e15) == pytest.approx(0.1)
    assert mfu(1e12, 100.0, None) is None and peak_flops(torch.device("cpu")) is None


# ------------------------------------------------------------------ issue 26: divergence, numbers
class Diverging(Counter):
    """A Counter whose loss is finite up to `bad_at`, then NaN."""

    def __init__(self, out, steps, bad_at):
        super().__init__(out, steps)
        self.bad_at, self.log_every, self.checkpoint_every = bad_at, 1, 2

    def log(self, result):
        self.check_losses({"loss": float("nan") if self.step >= self.bad_at else 1.0 / self.step},
                          self.step - 1)
        super().log(result)


def test_a_non_finite_loss_stops_the_loop_naming_the_step_and_the_kept_checkpoint(tmp_path):
    from hume_ssl.train.finite import DivergedError

    tr = Diverging(tmp_path, 10, bad_at=5)
    with pytest.raises(DivergedError, match=r"loss became nan at step 5 \(loss at steps 1..5: "
                                            r"1 -> 0.5 -> 0.333 -> 0.25 -> nan\)") as e:
        tr.fit()
    assert "checkpoint with finite weights (step 4)" in str(e.value)
    assert ("save", 5) not in tr.events and (tmp_path / CHECKPOINT).read_text() == "4 4"


def test_non_finite_weights_are_never_checkpointed(tmp_path):
    import torch

    from hume_ssl.train.finite import DivergedError

    class NanWeights(Counter):
        def finite_tensors(self):
            return [torch.tensor([1.0, float("inf") if self.step >= 3 else 0.0])]

    with pytest.raises(DivergedError, match="weights became non-finite.*nothing was kept"):
        NanWeights(tmp_path, 6).fit()
    assert not (tmp_path / CHECKPOINT).exists()


def test_schedule_fraction_starts_where_the_budget_was_fitted():
    from hume_ssl.train.budget import schedule_fraction

    assert schedule_fraction(50, 100) == 0.5
    assert [schedule_fraction(s, 125, start=25) for s in (0, 25, 75, 125)] == [0, 0, 0.5, 1]


def test_a_step_out_of_device_memory_is_one_line_naming_what_to_change(tmp_path):
    """Before: a CUDA out-of-memory error was a traceback (train-fixmatch --batch-size 100000)."""

    class Greedy(Counter):
        def train_step(self):
            if self.step == 3:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 9 GiB")
            super().train_step()

    run = Greedy(tmp_path, 6)
    run.device, run.saved_step = torch.device("cpu"), None
    with pytest.raises(HumeSSLError, match=r"training ran out of cpu memory at step 4: try a "
                                           r"lower --batch-size .*; its checkpoint at step 3"):
        run.fit()


def test_a_run_far_over_its_budget_says_so():
    """Before: a 12 s budget run for 65 s on a loaded CPU (the step time is measured once, at
    the start) and the run said nothing; metrics.json now records the share it used."""
    import warnings

    from hume_ssl.train.budget import OVER_BUDGET, budget_use

    assert budget_use(None, 100.0) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert budget_use(0.2, 12.0)["share_used"] == 1.0  # on budget: no word
    with pytest.warns(UserWarning, match=r"the training took 1\.08 min, 5\.4x its "
                                         r"--budget-minutes 0\.2: its steps ran slower"):
        use = budget_use(0.2, 65.0, what="training")
    assert use == {"budget_minutes": 0.2, "elapsed_s": 65.0, "share_used": 5.417}
    assert use["share_used"] > OVER_BUDGET
