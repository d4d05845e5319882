"""`hume-ssl demo`: the pipeline end to end on scikit-learn's digits (offline, CPU, minutes).

    run.py   demo_run / DemoSettings: pretrain -> seed -> train-fixmatch -> predict, and the
             k-means baseline on the same test images
"""
