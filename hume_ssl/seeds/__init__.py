"""`hume-ssl seed` and `export`: reliable pseudo-labeled samples from a HUME ensemble.

    config.py       SeedConfig: the seed rules' one configuration (defaults, units, help)
    consensus.py    ConsensusSelector: the default rule (docs/consensus_rule.md), built on
      partitions.py   the k-means and graph partitions of the two spaces
      stability.py    which clusters they agree on, and their cores
      ranking.py      candidates ranked around one mode of each cluster
      cuts.py         why a cluster gives fewer seeds than asked
    selection.py    SeedSelector: the hume rule (agreement + kNN consistency, N best per cluster)
    duplicates.py   rows equal in both spaces count once
    calibration.py  the expected precision of the consensus seeds (label-free)
    report.py       contact sheets, precision against ground truth (evaluation only)
    artifact.py     the seeds folder contract: the one way other stages read or write seeds
    run.py          seed_run: the Python API behind `hume-ssl seed`, with
      inputs.py       its two spaces, ground truth and k
      choose_k.py     --k auto
      meta.py         seeds.json's fields
      messages.py     what it says in words
    export.py       seeds in other SSL codebases' formats; usb.py: USB datasets, train_usb
"""
