"""Kaggle-style leaderboard service: students upload prediction files, see their public AUC at once, and the private
board decides the final ranking after the deadline.

Layers, each usable on its own:

- :mod:`.rules`    pure functions (UTC day, deadline, daily limit, final selection, boards, baselines, probing);
- :mod:`.store`    SQLAlchemy storage (SQLite or PostgreSQL): :class:`~.store.Store`, one transaction helper and a
  small store per area (accounts, uploads, selections, overrides, boards, backup), tables in ``store.schema``;
- :mod:`.service`  :class:`~.service.Leaderboard`, which validates, scores and stores uploads (the daily limit
  counted in the transaction that stores) and never hands out a private score before the close time;
- :mod:`.app`      ``create_app``: the FastAPI app put together from :mod:`.routes` (``pages``, ``admin``, ``api``
  routers; ``site`` for what they share) behind :mod:`.guard` (limits, login, CSRF, headers);
- :mod:`.roster`, :mod:`.display`, :mod:`.signals`, :mod:`.plots`: accounts from the course roster, public names and
  safe CSV cells, the TA's probing signals, ROC curves and intervals;
- :mod:`.serve`, :mod:`.timeouts`, :mod:`.commands`: the ``python -m grader serve`` subcommand (it binds first,
  then writes; ``timeouts`` bounds how long a request's headers and body may take), and the TA's ``init``,
  ``tokens``, ``backup`` and ``restore``.

Nothing here imports torch, so the app starts fast.
"""
