"""Self-supervised methods by name (solo-learn's registry): `pretrain --method NAME`.

A method is an nn.Module built from a PretrainConfig with `build(cfg)`; its forward takes two
views (B, 3, S, S) and `n_shuffles` key-batch permutations (n_shuffles, B) and returns
{"loss", "acc" (the positive's accuracy)}. It exposes `encoder_q` (the encoder that is
exported), `feat_dim`, `query(x)` (normalised embeddings), `train_passes` (forward-equivalents
per image and step, for the MFU) and, for the collapse warning, `chance_loss(batch)` (the loss
of useless embeddings). Its loss is a pure function in its module (`infonce_loss`,
`nt_xent_loss`); shared pieces are in `common`. A method with a queue of past keys (MoCo)
also returns "keys", takes them with `enqueue(keys)` after the optimizer step, keeps the
checkpointed queue pointer `ptr`, and says with `queue_turnover_steps(batch)` how many steps
pass before pos_acc means anything; a method without one (SimCLR) has none of these. Its
defaults (lr, temperature, head), with their sources, are in DEFAULTS. Adding a method is one
module here and one line in METHODS and DEFAULTS.

    mocov2  contrast against a momentum encoder's queue of past keys (MoCo's CIFAR-10 demo)
    simclr  contrast within the batch, no momentum encoder (lightly's CIFAR-10 benchmark)
"""

from __future__ import annotations

from hume_ssl.pretrain.methods.mocov2 import MoCo
from hume_ssl.pretrain.methods.simclr import SimCLR

METHODS = {"mocov2": MoCo, "simclr": SimCLR}

# per method: lr at batch 512 (scaled linearly with the batch), temperature, projection head
DEFAULTS = {
    "mocov2": {"lr_at_512": 0.06, "temperature": 0.1, "head": "mlp"},  # MoCo demo; v2 head
    "simclr": {"lr_at_512": 0.24, "temperature": 0.5, "head": "mlp_bn"},  # lightly: 0.06 * B/128
}
