"""`hume-ssl seed` and `export`: reliable pseudo-labeled samples from a HUME ensemble.

    config.py     SeedConfig: the seed rule's one configuration (defaults, units, help)
    selection.py  SeedSelector: agreement + kNN consistency, then N best per cluster
    report.py     contact sheets, precision against ground truth (evaluation only)
    artifact.py   the seeds folder contract: the one way other stages read or write seeds
    run.py        seed_run / choose_k: the Python API behind `hume-ssl seed`
    export.py     seeds in other SSL codebases' formats
"""
