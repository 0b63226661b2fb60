"""Kaggle-style leaderboard service: students upload prediction files, see their public AUC at once, and the private
board decides the final ranking after the deadline.

Layers, each usable on its own:

- :mod:`.rules`   pure functions (daily limit, UTC day, final selection, boards, baselines passed, probing flags);
- :mod:`.store`   SQLAlchemy storage behind a context-managed :class:`~.store.Store` (SQLite or PostgreSQL);
- :mod:`.service` :class:`~.service.Leaderboard`, which validates, scores and stores uploads and never hands out a
  private score before the close time;
- :mod:`.app`     the FastAPI app with server-rendered Jinja2 pages and a small JSON API;
- :mod:`.serve`   the ``python -m grader serve`` subcommand.

Nothing here imports torch, so the app starts fast.
"""
