"""`hume-ssl train-fixmatch` and `predict`: FixMatch from seeds plus every unlabeled image.

    config.py      FixMatchConfig, units, schedules
    recipes.py     fine-tuning recipes (lr, warm-up, layer decay), optimizer and param groups
    loss.py        FixMatch's loss and one step's forward (pure functions)
    ema.py         the EMA of the weights (evaluated and exported)
    microbatch.py  a step in micro-batches with accumulated gradients
    probe.py       the linear probe on the init's frozen features (the baseline to beat)
    trainer.py     FixMatchTrainer on the shared scaffold (hume_ssl.train)
    run.py         train_fixmatch_run: reads the seeds folder (hume_ssl.seeds.artifact), exports
    predict.py     predict_run: labels a split with an exported model
"""
