"""Building blocks every stage uses: errors, I/O, devices, metrics, checkpoints, kNN."""
