"""Every pending GPU figure in one command, sized to fit <= 7 minutes on one H100/H200.

    PYTHONPATH=. python3 recipes/gpu_check.py --shared .carry --out $OUT     # the GPU machine
    PYTHONPATH=. python3 recipes/gpu_check.py --shared .carry --out $OUT --sections end-to-end \
        --budget-minutes 5 --e2e-minutes 3             # a second call (hume-imagenet: a third)
    python recipes/gpu_check.py --smoke --out /tmp/gpu_smoke    # CPU rehearsal (end-to-end: 4 min)

Sections (--sections picks some; each reuses the recipe that owns the figure):
  hume-cifar        HUME 100 restarts x 300 steps at N = 50,000 (512-d / 1,000-d class-structured
                    synthetic views; recipes/bench_hume.py `measure`): seconds, steps/s, ACC
  hume-equal        every restart bit-identical across chunkings and lanes-in-one-graph vs lanes
                    one by one, both inner-solve forms, on this device
  hume-imagenet     HUME at ImageNet size (N 1,281,167, d 1,024, k 1,000, 100 restarts), a few
                    steps timed and 300 extrapolated (bench_hume `measure`: `total_300_s`)
  pretrain-demo, pretrain-default, pretrain-simclr
                    `pretrain` for --pretrain-minutes each: kNN-200 against seconds, images/s
                    (recipes/cifar10_pretrain.py `run_variant`)
  fixmatch-init, fixmatch-scratch
                    FixMatch with 40 true labels from the ImageNet --init (INIT below) and from
                    scratch (recipes/cifar10_fixmatch_init.py)
  end-to-end        recipes/cifar10_end_to_end.py at --e2e-minutes
hume-imagenet and end-to-end are not in the default run (they do not fit beside the others):
calls of their own, as above.
The default order puts the figures never measured first (FixMatch from an ImageNet init, the
shipped pretrain), the H200 re-measures last. On a GPU each section runs in its own process
with its own time limit (memory freed between sections); a section that fails or runs out of
time is recorded in the table and the check goes on; a section starts only while 1.3 x its
planned seconds are left of --budget-minutes, else it is skipped and recorded so. Writes
OUT/gpu_check.md (the table, rewritten after every section: a killed run keeps what it
measured), OUT/gpu_check.csv and OUT/gpu_check.log (versions, then every section's output),
and prints the table; runs and synthetic views go to --scratch (not OUT: the device tool
brings back a few small files only). `--smoke` runs the same sections on the CPU at a tiny
size, in-process, on made-up images and a random-initialised SqueezeNet
(tests/recipes/test_gpu_check.py).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import resource
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import SHARED_DATA, run_recipe  # noqa: E402

# The ImageNet init of `fixmatch-init`: one spec, `{shared}` is --shared. EfficientNet-Lite2
# (timm:tf_efficientnet_lite2@{shared}/tf_efficientnet_lite2_in1k.pth, 25 MB) is the stronger
# model but does not fit the 64 MiB carry beside the CIFAR-10 npz files; SqueezeNet does.
INIT = "torchvision:squeezenet1_1@{shared}/squeezenet1_1_imagenet.pth"

SECTIONS = ["fixmatch-init", "pretrain-default", "hume-cifar", "fixmatch-scratch",
            "pretrain-demo", "hume-equal", "pretrain-simclr", "hume-imagenet", "end-to-end"]
DEFAULT_SECTIONS = SECTIONS[:-2]  # hume-imagenet and end-to-end: calls of their own (they do
# not fit beside the rest)
# planned seconds per section at the default sizes, with a child's start and the CIFAR-10
# decode (~20 s) and an H100's slower memory (the budget check uses them)
PLANNED_S = {"hume-cifar": 50, "hume-equal": 25, "hume-imagenet": 200, "pretrain-demo": 70,
             "pretrain-default": 70, "pretrain-simclr": 70, "fixmatch-init": 65,
             "fixmatch-scratch": 65, "end-to-end": 200}
START_MARGIN = 1.3  # a section starts only while this x its planned seconds are left


def planned_s(name: str, args) -> float:
    """A section's planned seconds: PLANNED_S's, end-to-end's from its --e2e-minutes (its
    stages' budgets) and a child's start."""
    if name == "end-to-end" and not args.smoke:
        return 60 * sizes(args)["e2e_min"] + 30
    return PLANNED_S[name]
FIELDS = ["section", "status", "seconds", "device", "steps_per_s", "images_per_s",
          "peak_mem_gib", "figure"]
RESULT_TAG = "GPU_CHECK_RESULT "


def sizes(args) -> dict:
    """Every size of the check: the real one, or the CPU smoke one."""
    if args.smoke:
        # no wall-clock budgets (a CPU's step time would not fit them): fixed epochs / steps
        return dict(cifar_n=2_000, cifar_d=(32, 48), hume_restarts=8, hume_steps=4,
                    imagenet=(4_000, 32, 50, 8, 3), eq_steps=3,
                    subset=["--subset", "64", "--test-subset", "32"], pretrain_min=None,
                    pretrain_epochs=1, batch=16,
                    pretrain_subset=["--subset", "32", "--test-subset", "32", "--size", "16"],
                    fixmatch=["--fixmatch-minutes", "0", "--steps", "3"],
                    e2e_min=args.e2e_minutes or 4.0,
                    e2e_extra=["--subset", "256", "--test-subset", "64", "--restarts", "8",
                               "--input-size", "32"])
    return dict(cifar_n=50_000, cifar_d=(512, 1000), hume_restarts=100, hume_steps=300,
                imagenet=(1_281_167, 1024, 1000, 100, args.imagenet_steps), eq_steps=20,
                subset=[], pretrain_min=args.pretrain_minutes, pretrain_epochs=200, batch=512,
                pretrain_subset=[],
                fixmatch=["--fixmatch-minutes", str(args.fixmatch_minutes)],
                e2e_min=args.e2e_minutes or 1.75, e2e_extra=[])


def fake_shared(folder: Path) -> Path:
    """A stand-in for ../shared/data (smoke only): small random 32 px images of 10 classes in
    the shared npz names, and a random-initialised SqueezeNet 1.1 state dict."""
    import torch
    import torchvision

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 400), ("test", 100)):
        path = folder / f"cifar10_{split}_jpeg.npz"
        if not path.exists():
            y = np.arange(n) % 10
            x = (rng.integers(0, 60, (n, 32, 32, 3)) + 18 * y[:, None, None, None]).astype(np.uint8)
            np.savez(path, images=x, labels=y.astype(np.int64))
    weights = folder / "squeezenet1_1_imagenet.pth"
    if not weights.exists():
        torch.manual_seed(0)
        torch.save(torchvision.models.squeezenet1_1().state_dict(), weights)
    return folder


def device_name(dev) -> str:
    import torch

    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"cpu ({torch.get_num_threads()} threads)"


def peak_gib(dev) -> float:
    import torch

    if dev.type == "cuda":
        return torch.cuda.max_memory_allocated(dev) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # the process's RSS


def recipe_main(module: str, argv: list[str]) -> str:
    """Run recipes/<module>.py's main() with argv, its stdout shown and returned."""
    import importlib

    mod = importlib.import_module(module)
    buf = io.StringIO()

    class Tee(io.TextIOBase):
        def write(self, s):
            buf.write(s)
            return sys.__stdout__.write(s)

    old = sys.argv
    sys.argv = [f"{module}.py", *argv]
    try:
        with contextlib.redirect_stdout(Tee()):
            mod.main()
    finally:
        sys.argv = old
    return buf.getvalue()


def table_rows(text: str, header_start: str) -> list[list[str]]:
    """The rows of the Markdown table in `text` whose header line starts with header_start."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(header_start):
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                rows.append([c.strip() for c in row.strip("|").split("|")])
            return rows
    raise RuntimeError(f"the recipe printed no table starting {header_start!r}")


# ---------------------------------------------------------------------- sections
def sec_hume_cifar(args, sz, dev) -> dict:
    from bench_hume import measure, synthetic_views

    n, (d1, d2) = sz["cifar_n"], sz["cifar_d"]
    folder = Path(args.scratch) / "_views"
    (x1, _), y = synthetic_views(folder, n, d1, 10)  # the same labels and latents, two widths
    (_, x2), _ = synthetic_views(folder, n, d2, 10)
    r = measure(dev, x1, x2, y, 10, sz["hume_restarts"], sz["hume_steps"], False)
    return {"steps_per_s": 1 / r["per_step_s"],
            "figure": f"N {n}, {d1}/{d2}-d, {r['restarts']} restarts x {r['steps']} steps: "
                      f"{r['total_s']:.1f} s (train {r['train_s']:.1f} s, setup "
                      f"{r['setup_s']:.1f} s, score+vote {r['score_vote_s']:.1f} s); "
                      f"ensemble ACC {r['acc']:.3f}"}


def sec_hume_equal(args, sz, dev) -> dict:
    """Restarts bit-equal for any chunking and lane schedule, on the rows `Hume.fit` reads
    (fit_rows: centred, normalised) at the shipped settings: 3,000 rows with the default
    subset_size (every row labelled once, the path of every fit up to subset_size rows) and with
    600-row subsets (the path of larger data), each inner-solve form."""
    import torch

    from hume_ssl.hume.config import HumeConfig
    from hume_ssl.hume.engine import train_encoders
    from hume_ssl.hume.ridge import RidgeInner
    from hume_ssl.hume.rows import fit_rows

    rng = np.random.default_rng(0)
    z = rng.normal(size=(10, 16))[np.arange(3000) % 10] + rng.normal(size=(3000, 16))
    x1 = (z @ rng.normal(size=(16, 64))).astype(np.float32)
    x2 = (z @ rng.normal(size=(16, 96))).astype(np.float32)
    checks = []
    for rows, subsets in (("all rows", {}), ("600-row subsets", {"subset_size": 600,
                                                                 "n_subsets": 2})):
        for solve in ("primal", "smoother"):
            cfg = HumeConfig(k=10, n_steps=sz["eq_steps"], inner_solve=solve, **subsets)
            r1 = fit_rows(x1, cfg, 1, dev)
            inner = RidgeInner.from_config(fit_rows(x2, cfg, 2, dev), cfg)
            w_all, c_all = train_encoders(r1, inner, np.arange(24), cfg)
            same = True
            for ids in (np.arange(8), np.arange(8, 24), np.array([3, 17])):
                w, c = train_encoders(r1, inner, ids, cfg)
                same &= bool(torch.equal(w, w_all[torch.from_numpy(ids).to(dev)]))
                same &= bool(np.array_equal(c, c_all[:, ids]))
            w_s, c_s = train_encoders(r1, inner, np.arange(24), cfg, batch_lanes=False)
            one_by_one = bool(torch.equal(w_s, w_all)) and bool(np.array_equal(c_s, c_all))
            checks.append(f"{rows}, {solve}: chunks {'equal' if same else 'DIFFER'}, lanes one "
                          f"by one {'equal' if one_by_one else 'DIFFER'}")
    ok = "DIFFER" not in " ".join(checks)
    return {"status": "ok" if ok else "FAILED",
            "figure": f"N 3000, 24 restarts x {sz['eq_steps']} steps, encoder_init "
                      f"{HumeConfig.encoder_init}: " + "; ".join(checks)}


def sec_hume_imagenet(args, sz, dev) -> dict:
    from bench_hume import measure, synthetic_views

    n, d, k, restarts, steps = sz["imagenet"]
    (x1, x2), y = synthetic_views(Path(args.scratch) / "_views", n, d, k)
    r = measure(dev, x1, x2, y, k, restarts, steps, False)
    return {"steps_per_s": 1 / r["per_step_s"],
            "figure": f"N {n}, d {d}, k {k}, {restarts} restarts: {steps} steps in "
                      f"{r['total_s']:.0f} s -> 300 steps {r['total_300_s']:.0f} s "
                      f"(extrapolated; setup {r['setup_s']:.0f} s, score+vote "
                      f"{r['score_vote_s']:.0f} s); ensemble ACC {r['acc']:.3f} at {steps} steps"}


def data_spec(args, subset: list[str]) -> str:
    """The dataset spec of the recipes' data options `subset` (--subset N --size S ...)."""
    from common import cifar10_data

    ns = argparse.Namespace(shared=args.shared, seed=0, subset=0, test_subset=0, size=0,
                            out=str(Path(args.scratch) / ("_data_" + "_".join(subset[1::2]))))
    opts = dict(zip(subset[::2], subset[1::2]))
    ns.subset, ns.test_subset = int(opts.get("--subset", 0)), int(opts.get("--test-subset", 0))
    ns.size = int(opts.get("--size", 0))
    return cifar10_data(ns)


def sec_pretrain(variant: str):
    def run(args, sz, dev) -> dict:
        from cifar10_pretrain import run_variant

        ns = argparse.Namespace(arch="resnet18_cifar", epochs=sz["pretrain_epochs"],
                                minutes=sz["pretrain_min"],
                                batch_size=sz["batch"], lr=None, knn_every=None, device=str(dev),
                                compile=False, seed=0, log_every=50)
        res = run_variant(variant, data_spec(args, sz["pretrain_subset"]),
                          Path(args.scratch) / "pretrain", ns)
        curve = " ".join(f"{r['elapsed_s']:.0f}s:{r['knn_acc']:.3f}" for r in res["knn"])
        secs = max([r["elapsed_s"] for r in res["knn"]] or [1e-9])
        return {"images_per_s": res["images_per_s"], "steps_per_s": res["steps"] / secs,
                "figure": f"kNN-200 {res['knn_acc_last']:.4f} after {res['steps']} steps "
                          f"({res['epochs']:.1f} epochs); kNN-200 by seconds: {curve}"}
    return run


def sec_fixmatch(start: str):
    def run(args, sz, dev) -> dict:
        init = args.init.format(shared=args.shared)
        argv = ["--shared", str(args.shared), "--out", str(Path(args.scratch) / "fixmatch"),
                "--device", str(dev), *sz["fixmatch"], "--init", init, "--starts", start,
                *sz["subset"]]
        text = recipe_main("cifar10_fixmatch_init", argv)
        row = table_rows(text, "| start | device | steps |")[0]
        return {"steps_per_s": float(row[4]),
                "figure": f"{row[0]}: final test accuracy {row[5]} after {row[2]} steps "
                          f"({row[3]} s), 40 labels"}
    return run


def sec_end_to_end(args, sz, dev) -> dict:
    argv = ["--shared", str(args.shared), "--out", str(Path(args.scratch) / "e2e"), "--device",
            str(dev), "--total-minutes", str(sz["e2e_min"]), *sz["e2e_extra"]]
    text = recipe_main("cifar10_end_to_end", argv)
    rows = table_rows(text, "| stage | seconds | result |")
    return {"figure": "; ".join(f"{r[0]} {r[1]} s: {r[2]}" for r in rows)}


RUNNERS = {"hume-cifar": sec_hume_cifar, "hume-equal": sec_hume_equal,
           "hume-imagenet": sec_hume_imagenet, "pretrain-demo": sec_pretrain("demo"),
           "pretrain-default": sec_pretrain("default"), "pretrain-simclr": sec_pretrain("simclr"),
           "fixmatch-init": sec_fixmatch("init"), "fixmatch-scratch": sec_fixmatch("scratch"),
           "end-to-end": sec_end_to_end}


def run_section(name: str, args) -> dict:
    """Run one section here; its result row (an error is recorded, never raised)."""
    import torch

    from hume_ssl.core.device import resolve_device

    dev = resolve_device(args.device)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    t = time.perf_counter()
    row = {"section": name, "status": "ok", "device": device_name(dev)}
    try:
        row.update(RUNNERS[name](args, sizes(args), dev))
    except (Exception, SystemExit) as e:  # recorded in the table; the check goes on
        traceback.print_exc()
        msg = str(e).splitlines()[0][:160] if str(e) else ""
        row["status"] = f"error: {type(e).__name__}: {msg}"
    row["seconds"] = time.perf_counter() - t
    row["peak_mem_gib"] = peak_gib(dev)
    return row


def run_isolated(name: str, args, limit_s: float, log) -> dict:
    """Run one section in a child process with a time limit; its output goes to `log`."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, *args.argv]
    t = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=limit_s, env=env)
        out, status = p.stdout, None if p.returncode == 0 else f"error: exit {p.returncode}"
    except subprocess.TimeoutExpired as e:
        out = (e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes)
               else (e.stdout or ""))
        status = f"error: over its {limit_s:.0f} s limit"
    log.write(out)
    found = [ln for ln in out.splitlines() if ln.startswith(RESULT_TAG)]
    if found:
        return json.loads(found[-1][len(RESULT_TAG):])
    last = [ln for ln in out.splitlines() if ln.strip()][-1:] or [""]
    return {"section": name, "status": f"{status or 'error'}: {last[0][:160]}",
            "seconds": time.perf_counter() - t}


def fmt(v) -> str:
    if v is None or v == "":
        return "-"
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def write_table(rows: list[dict], out: Path, header: str) -> str:
    lines = [header, "", "| " + " | ".join(FIELDS) + " |", "|---" * len(FIELDS) + "|"]
    lines += ["| " + " | ".join(fmt(r.get(f)).replace("|", "/") for f in FIELDS) + " |"
              for r in rows]
    text = "\n".join(lines) + "\n"
    (out / "gpu_check.md").write_text(text)
    with open(out / "gpu_check.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return text


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", required=True, help="folder for gpu_check.md/.csv/.log")
    ap.add_argument("--scratch", default=None,
                    help="folder for the runs and synthetic views (several GB at ImageNet size; "
                         "default: /tmp/gpu_check_scratch, --smoke: OUT/_scratch)")
    ap.add_argument("--shared", default=str(SHARED_DATA),
                    help="folder with cifar10_{train,test}_jpeg.npz and squeezenet1_1_imagenet.pth")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--sections", nargs="+", default=DEFAULT_SECTIONS, choices=SECTIONS,
                    help="default: all but hume-imagenet and end-to-end, in this order")
    ap.add_argument("--budget-minutes", type=float, default=7.0,
                    help="wall clock for all sections; those that no longer fit are skipped")
    ap.add_argument("--pretrain-minutes", type=float, default=0.75,
                    help="per pretrain variant (its setup included)")
    ap.add_argument("--fixmatch-minutes", type=float, default=0.6, help="per FixMatch start")
    ap.add_argument("--e2e-minutes", type=float, default=None,
                    help="end-to-end total budget (default 1.75; --smoke: 4)")
    ap.add_argument("--imagenet-steps", type=int, default=10,
                    help="outer steps timed at ImageNet size (300 extrapolated)")
    ap.add_argument("--init", default=INIT, help="ImageNet init of fixmatch-init ({shared} = "
                    "--shared), e.g. timm:tf_efficientnet_lite2@{shared}/"
                    "tf_efficientnet_lite2_in1k.pth")
    ap.add_argument("--smoke", action="store_true",
                    help="CPU, tiny sizes, made-up data, in-process: checks the code in "
                         "minutes (4 on a 2-core CPU)")
    ap.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=None,
                    help="each section in its own process (default: on, off with --smoke)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.argv = [a for a in (sys.argv[1:] if argv is None else argv)]
    if args.smoke:
        args.device = "cpu"
        args.shared = str(fake_shared(Path(args.out) / "_fake_shared"))
        args.argv += ["--shared", args.shared]
    if args.isolate is None:
        args.isolate = not args.smoke
    if args.scratch is None:
        args.scratch = str(Path(args.out) / "_scratch") if args.smoke else "/tmp/gpu_check_scratch"
    return args


def versions(args) -> str:
    """The versions and the device a run measured with, for the log's first line."""
    import torch

    from hume_ssl.core.device import resolve_device

    dev = resolve_device(args.device)
    return (f"python {sys.version.split()[0]}, torch {torch.__version__}, numpy {np.__version__}, "
            f"device {device_name(dev)}")


def missing_inputs(args) -> list[str]:
    """What the chosen sections read from --shared and is not there (checked before any
    section runs: a missing file found by the sixth section wasted the five before it)."""
    need = []
    if any(s.startswith(("pretrain", "fixmatch", "end-to")) for s in args.sections):
        need += [Path(args.shared) / f"cifar10_{split}_jpeg.npz" for split in ("train", "test")]
    if "fixmatch-init" in args.sections and "@" in args.init:  # its weights file
        need.append(Path(args.init.format(shared=args.shared).split("@", 1)[1]))
    return [str(p) for p in need if not p.is_file()]


def main(argv=None) -> list[dict]:
    args = parse(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.child:  # one section, in this process, for the parent to read
        print(RESULT_TAG + json.dumps(run_section(args.child, args)), flush=True)
        return []
    missing = missing_inputs(args)
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}: nothing run (docs/gpu_check.md: what "
                         "to carry as --shared)")
    t0, rows = time.perf_counter(), []
    scale = 0.05 if args.smoke else 1.0

    def header() -> str:
        return (f"## gpu_check{' --smoke' if args.smoke else ''}: {len(rows)} sections in "
                f"{time.perf_counter() - t0:.0f} s (budget {args.budget_minutes} min); "
                "steps_per_s: HUME 1 / median outer step, pretrain and FixMatch steps / seconds "
                "with their evaluations")

    with open(out / "gpu_check.log", "w") as log:
        line = versions(args)
        log.write(line + "\n")
        print(line, flush=True)
        for name in args.sections:
            left = args.budget_minutes * 60 - (time.perf_counter() - t0)
            plan = planned_s(name, args)
            if left < START_MARGIN * plan * scale:
                rows.append({"section": name, "status": f"skipped: {left:.0f} s left of the "
                             f"budget, {plan:.0f} s planned"})
                write_table(rows, out, header())
                continue
            print(f"== {name} ({left:.0f} s of the budget left)", flush=True)
            if args.isolate:
                row = run_isolated(name, args, min(left, 3 * plan + 60), log)
            else:
                buf = io.StringIO()
                with contextlib.redirect_stderr(buf):
                    row = run_section(name, args)
                log.write(buf.getvalue())
            rows.append(row)
            print(f"   {row['status']} in {row.get('seconds', 0):.0f} s: {row.get('figure', '')}",
                  flush=True)
            log.flush()
            write_table(rows, out, header())  # after every section: a killed run keeps them
    print("\n" + write_table(rows, out, header()))
    return rows


if __name__ == "__main__":
    run_recipe(main)
