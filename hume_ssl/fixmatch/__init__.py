"""`hume-ssl train-fixmatch` and `predict`: FixMatch from seeds plus every unlabeled image.

    config.py   FixMatchConfig, units, schedules
    trainer.py  the loss, the EMA and FixMatchTrainer on the shared scaffold (hume_ssl.train)
    run.py      train_fixmatch_run: reads the seeds folder (hume_ssl.seeds.artifact), exports
    predict.py  predict_run: labels a split with an exported model
"""
