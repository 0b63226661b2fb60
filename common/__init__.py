"""The kit's shared base: the few small, torch-free pieces every package uses, defined once.

- ``common.config``: ``Config``, the base of every config dataclass (``from_dict`` / ``replace`` / ``help_table``),
  its one unknown-key check (``check_keys``, ``ConfigKeyError``), and the command-line options of a config made
  from its fields (``add_config_arguments``, ``config_overrides``: defaults and help defined once);
- ``common.commandline``: the one CLI shape (``main(argv) -> int``, exit codes 0 / 1 / 2);
- ``common.files``: atomic writes (``write_atomic``, ``atomic_target`` for writers that need a file name), private
  (0600) files for what only the TA may read (``write_private``, ``make_private``);
- ``common.answer_key``: the TA-only answer-key format (``solution.csv``);
- ``common.errors``: ``KitError``, the base of every error the kit explains in words (the tree is listed there).

This package sits at the bottom floor beside ``starter_code``: it imports only the standard library, numpy and
pandas, never another package of the kit. ``starter_code`` uses it and ships with it in the student bundle.
"""
