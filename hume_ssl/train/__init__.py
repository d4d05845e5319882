"""The trainer scaffold `pretrain` and `train-fixmatch` share.

    loop.py      Trainer: the step loop, periodic log / evaluation / checkpoint, stop on signal
    signals.py   SIGTERM/SIGINT -> a flag the loop polls (checkpoint, then KeyboardInterrupt)
    resume.py    the "already holds a run" guard and the resume-key check
    split.py     the uint8 split moved to the device (with a memory check)
    evaluate.py  batched, mixed-precision forward passes over uint8 images
    metrics.py   metrics.csv rows (append; truncate on resume)
    budget.py    fitting a schedule into a wall-clock budget
Exports write plain state dicts with core.io.atomic_save_state_dict.
"""
