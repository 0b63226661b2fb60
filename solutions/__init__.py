"""The reference solutions, one module per stage (``simple``, ``medium``, ``strong``, ``boss``, ``report``), and
what they share (``stages``). Each trains with ``starter_code``'s ``fit`` and scores with its ``eval_batches``,
in the vocabulary students have; ``python -m kit run|ladder`` runs them. ``baselines/`` holds the reference
ladder's scores per data preset (the leaderboard's baseline rows)."""
