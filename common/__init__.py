"""The kit's shared base: the few small, torch-free pieces every package uses, defined once.

- ``common.config``: ``Config``, the base of every config dataclass (``from_dict`` / ``replace`` / ``help_table``)
  and its one unknown-key check (``check_keys``, ``ConfigKeyError``);
- ``common.commandline``: the one CLI shape (``main(argv) -> int``, exit codes 0 / 1 / 2);
- ``common.files``: atomic writes, private (0600) files for what only the TA may read;
- ``common.answer_key``: the TA-only answer-key format (``solution.csv``);
- ``common.errors``: ``KitError``, the base of every error the kit explains in words.

This package sits at the bottom floor beside ``starter_code``: it imports only the standard library, numpy and
pandas, never another package of the kit. ``starter_code`` uses it and ships with it in the student bundle.
"""
