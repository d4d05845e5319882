"""`hume-ssl pretrain`: a self-supervised space learned from the user's own images.

    methods/    the method registry (MoCo v2, SimCLR)
    config.py   PretrainConfig and its units
    trainer.py  Pretrainer on the shared trainer scaffold (hume_ssl.train)
    run.py      pretrain_run: the Python API behind the command; exports the ssl backbone
"""
