"""HUME (Gadetsky & Brbic, NeurIPS 2023), many restarts at once.

    config.py     HumeConfig: every option, with units and the evidence for its default
    sparsemax.py  the task encoder's output
    ridge.py      the inner linear model on space 2 (closed form, shared by restarts)
    engine.py     the bi-level loop, batched over restarts
    scoring.py    the label-free restart score
    ensemble.py   Hungarian alignment of restarts, and the vote
    estimator.py  Hume: the scikit-learn-shaped estimator (chunks, checkpoints)
    outputs.py    the documented files of a fitted run
    run.py        label_run: the Python API behind `hume-ssl label`
"""

from hume_ssl.hume.config import HumeConfig
from hume_ssl.hume.estimator import Hume

__all__ = ["Hume", "HumeConfig"]
