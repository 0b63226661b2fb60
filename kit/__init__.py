"""The kit's top floor: what a TA runs to drive everything below it (``python -m kit demo|run|ladder|calibrate``).

    demo       the whole loop on the embedded demo data: build, train, submit, score, leaderboard, figures
    run        train one reference stage (``solutions/``) and write its submission
    ladder     every reference stage in order: public/private AUC, per kind, wall time, the strictness check
    calibrate  write the reference scores as a competition's baselines

It may import anything below it (``starter_code``, ``data_tools``, ``solutions``, ``grader``, as functions);
nothing below imports it.
"""
