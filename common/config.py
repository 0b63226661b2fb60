"""``Config``: the base of every config dataclass in the kit, and its one unknown-key check.

A config is a ``@dataclass`` whose fields all have defaults and ``help`` metadata (documented where defined):

>>> from dataclasses import dataclass, field
>>> @dataclass
... class Demo(Config):
...     epochs: int = field(default=3, metadata={"help": "Passes over the data."})
>>> Demo.from_dict({"epochs": 5}).epochs
5
>>> Demo.from_dict({"epoch": 5})
Traceback (most recent call last):
...
common.config.ConfigKeyError: Demo: unknown key(s) epoch; known keys: epochs

Building from a dict and changing fields check the keys in one place (``check_keys``); ``help_table()`` gives the
README table. ``starter_code.config.Config`` adds smoke mode for the configs that train.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import asdict, field, fields
from typing import Any, Iterable, Mapping


class ConfigKeyError(KeyError):
    """A key that a config does not know (a typo would otherwise be silently ignored); the message lists the
    known keys."""

    def __str__(self) -> str:  # KeyError's str() quotes the message; show it plainly
        return str(self.args[0])


def check_keys(keys: Iterable[str], known, what: str) -> None:
    """Raise ``ConfigKeyError`` if a key in ``keys`` is not in ``known`` (names, or a dataclass whose fields are
    the names): the kit's one unknown-key check. ``what`` names the config in the message."""
    known = {f.name for f in fields(known)} if dataclasses.is_dataclass(known) else set(known)
    unknown = sorted(set(keys) - known)
    if unknown:
        raise ConfigKeyError(f"{what}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(known))}")


class Config:
    """Base of the kit's config dataclasses (a mixin: subclasses are ``@dataclass``es whose fields all have
    defaults and ``help`` metadata)."""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]):
        """Build from a plain dict (e.g. parsed JSON); unknown keys raise ``ConfigKeyError`` listing the known
        ones; nested configs may be given as dicts."""
        check_keys(d, cls, cls.__name__)
        return cls().replace(**d)

    def to_dict(self) -> dict:
        """JSON-friendly dict; ``type(cfg).from_dict(cfg.to_dict()) == cfg``."""
        return asdict(self)

    def replace(self, **changes):
        """A copy with ``changes``; unknown keys raise ``ConfigKeyError``.

        A dotted key changes one entry inside a field: ``replace(**{"model_kwargs.latent_dim": 32})`` keeps the
        other ``model_kwargs``; ``replace(classifier={"epochs": 1})`` changes one key of a nested config.
        """
        check_keys([k.partition(".")[0] for k in changes], type(self), type(self).__name__)
        new: dict[str, Any] = {}
        for key, value in changes.items():
            name, _, rest = key.partition(".")
            current = new.get(name, getattr(self, name))
            if rest:
                value = {rest: value}
            if isinstance(current, Config) and isinstance(value, Mapping):
                value = current.replace(**value)
            elif rest and isinstance(current, Mapping):
                value = {**current, **value}
            elif rest:
                raise ConfigKeyError(f"{type(self).__name__}.{name} has no keys: cannot set {key!r}")
            new[name] = value
        return dataclasses.replace(self, **new)

    @classmethod
    def default_field(cls, name: str, default):
        """``name``'s field of this class with another ``default`` (help text kept): how a subclass such as a
        stage's config changes defaults, e.g. ``epochs: int = TrainConfig.default_field("epochs", 6)``."""
        metadata = cls.__dataclass_fields__[name].metadata  # type: ignore[attr-defined]
        if isinstance(default, (dict, list, set)):
            return field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
        return field(default=default, metadata=metadata)

    @classmethod
    def help_table(cls) -> str:
        """Markdown table of fields, defaults and help (for READMEs and ``--help``)."""
        rows = ["| key | default | meaning |", "|---|---|---|"]
        for f in fields(cls):
            default = f.default_factory() if callable(f.default_factory) else f.default  # type: ignore[misc]
            shown = f"`{type(default).__name__}()`" if isinstance(default, Config) else f"`{default!r}`"
            rows.append(f"| `{f.name}` | {shown} | {f.metadata.get('help', '')} |")
        return "\n".join(rows)
