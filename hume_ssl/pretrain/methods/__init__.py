"""Self-supervised methods by name (solo-learn's registry): `pretrain --method NAME`.

A method is an nn.Module built from a PretrainConfig with `build(cfg)`; its forward takes two
views (B, 3, S, S) and a key permutation and returns {"loss", "acc", "keys"}; it exposes
`encoder_q` (the encoder that is exported), `feat_dim`, `enqueue(keys)` and a queue pointer
`ptr` that is checkpointed. Adding a method is one module here and one line in METHODS.
"""

from __future__ import annotations

from hume_ssl.pretrain.methods.mocov2 import MoCo

METHODS = {"mocov2": MoCo}
