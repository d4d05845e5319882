"""Progress displays of the commands: each turns a stage's callback events into one line.

The stages emit events (`callback(event, info)`); these displays are the CLI's only business
with them.
"""

from __future__ import annotations

from contextlib import contextmanager

from hume_ssl.core import distributed
from hume_ssl.core.progress import LineProgress, rich_progress


@contextmanager
def hume_progress(console):
    """Yields a callback(event, info) that shows restart-steps done and the current loss, one
    display per HUME fit (`--k auto` fits several). Counts and ETA cover the steps this process
    runs (a resumed chunk's steps done before are left out). Under torchrun only rank 0 shows
    it (its own restarts' steps)."""
    if distributed.rank():
        yield lambda event, info: None
        return
    progress = rich_progress(console)
    state: dict = {}

    def callback(event: str, info: dict) -> None:
        if event == "start":
            total = info.get("mine", info["restarts"] - info["resumed"]) * info["steps"]
            state["total"] = max(total, 1)
            state["task"] = progress.add_task(
                "restart-steps",
                total=state["total"],
                info=f"{info['restarts']} restarts ({info['resumed']} resumed) on "
                f"{info['device']}, chunks of {info['chunk']}",
            )
            if total == 0:
                progress.update(state["task"], completed=1)
        elif event == "chunk":
            state["chunk_started"] = False
        elif event == "step":
            if not state.get("chunk_started", True) and info["step"] > 0:
                # a chunk resumed from its checkpoint: its earlier steps are not run here
                state["total"] = max(state["total"] - info["step"] * info["restarts"], 1)
                progress.update(state["task"], total=state["total"])
            state["chunk_started"] = True
            progress.update(
                state["task"],
                advance=info["restarts"],
                info=f"step {info['step'] + 1}  loss {info['loss']:.4f}",
            )
        elif event == "scoring":
            progress.update(state["task"], info="scoring restarts, aligning, voting")
        elif event == "done" and isinstance(progress, LineProgress):
            # off a terminal: the fit's last line now, before the command's later messages
            progress.stop()
            progress.tasks.clear()

    with progress:
        yield callback


@contextmanager
def fixmatch_progress(console):
    """Rich progress line for train-fixmatch: steps (from the first), losses, mask rate,
    accuracies; while --budget-minutes is being timed, no total and no ETA (it is unknown).
    Under torchrun only rank 0 shows it (the ranks log the same, all-reduced rows)."""
    if distributed.rank():
        yield lambda event, info: None
        return
    progress = rich_progress(console)  # the task's description is "fixmatch"
    state: dict = {"timing": False}
    last_test = [""]

    def fmt(v, spec=".3f"):
        return "-" if v == "" or v is None else format(v, spec)

    def callback(event: str, info: dict) -> None:
        if event == "start":
            state["timing"] = info.get("budget_minutes") is not None
            where = f"on {info['device']} x{info['world']}"
            state["task"] = progress.add_task(
                "fixmatch",
                total=None if state["timing"] else info["steps"],
                completed=info["step"],
                unit="steps",
                info=(f"{where}; timing the first steps to fit --budget-minutes "
                      f"{info['budget_minutes']:g}" if state["timing"] else where),
            )
        elif event == "step":
            progress.update(state["task"], completed=info["step"])
        elif event == "budget":
            state["timing"] = False
            progress.update(state["task"], total=info["total_steps"])
            console.print(f"budget: {info['total_steps']} steps at "
                          f"{info['s_per_step'] * 1e3:.0f} ms/step, "
                          f"{info['s_per_eval']:.1f} s per evaluation")
        elif event == "warning":
            console.print(f"[bold yellow]warning:[/] {info['message']}")
        elif event == "log":
            if info["test_acc"] != "":
                last_test[0] = info["test_acc"]
            progress.update(
                state["task"],
                completed=info["step"],
                info=(
                    f"loss_x {fmt(info['loss_x'])} loss_u {fmt(info['loss_u'])} "
                    f"mask {fmt(info['mask_rate'], '.2f')} pl_acc {fmt(info['pl_acc_masked'])} "
                    f"test {fmt(last_test[0])} {info['steps_per_s']:.1f} steps/s"
                ),
            )

    with progress:
        yield callback


@contextmanager
def pretrain_progress(console):
    """Rich progress line for pretrain: steps, loss, positive-pair accuracy, kNN, images/s;
    says when the kNN monitor runs, and shows no total while --budget-minutes is timed. Under
    torchrun only rank 0 shows it."""
    if distributed.rank():
        yield lambda event, info: None
        return
    progress = rich_progress(console)
    state: dict = {"knn": "-", "timing": False}

    def callback(event: str, info: dict) -> None:
        if event == "start":
            state["timing"] = info.get("budget_minutes") is not None
            note = (f"; timing the first steps to fit --budget-minutes "
                    f"{info['budget_minutes']:g}" if state["timing"] else "")
            state["task"] = progress.add_task(
                "pretrain", total=None if state["timing"] else info["total_steps"],
                completed=info["step"], unit="steps", info=f"on {info['device']}{note}")
        elif event == "step":
            progress.update(state["task"], completed=info["step"])
        elif event == "knn":
            console.print(f"kNN monitor at step {info['step']}: embedding {info['n_bank']} train "
                          f"+ {info['n_test']} test images...")
        elif event == "budget":
            state["timing"] = False
            progress.update(state["task"], total=info["total_steps"])
            console.print(f"budget: {info['epochs']} epochs = {info['total_steps']} steps at "
                          f"{info['s_per_step'] * 1e3:.0f} ms/step")
        elif event == "warning":
            console.print(f"[bold yellow]warning:[/] {info['message']}")
        elif event == "log":
            if info["knn_acc"] != "":
                state["knn"] = f"{info['knn_acc']:.4f}"
            loss = "-" if info["loss"] == "" else f"{info['loss']:.3f}"
            total = None if state["timing"] else info["total_steps"]
            progress.update(state["task"], total=total, completed=info["step"],
                            info=f"epoch {info['epoch']:.1f} loss {loss} kNN {state['knn']} "
                                 f"{info['images_per_s']:.0f} images/s")

    with progress:
        yield callback


@contextmanager
def predict_progress(console):
    """Progress of `predict`: images labeled, images/s and the time left."""
    progress = rich_progress(console)
    state: dict = {}

    def callback(event: str, info: dict) -> None:
        if event == "predict":
            if "task" not in state:
                state["task"] = progress.add_task("predict", total=info["total"], unit="images",
                                                  info="")
            progress.update(state["task"], completed=info["done"])
        elif event == "warning":
            console.print(f"[bold yellow]warning:[/] {info['message']}")

    with progress:
        yield callback
