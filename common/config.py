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
README table; where a command line mirrors a config, ``add_config_arguments`` makes its options from the same
fields (defaults and help defined once) and ``config_overrides`` reads back the ones given:

>>> parser = argparse.ArgumentParser(prog="demo")
>>> add_config_arguments(parser, Demo)
>>> config_overrides(parser.parse_args(["--epochs", "7"]), Demo)
{'epochs': 7}
>>> config_overrides(parser.parse_args([]), Demo)
{}

``starter_code.config.Config`` adds smoke mode for the configs that train.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import types
import typing
from dataclasses import MISSING, asdict, field, fields
from typing import Any, ClassVar, Iterable, Mapping, Sequence

from common.errors import KitError


class ConfigKeyError(KitError, KeyError):
    """A key that a config does not know (a typo would otherwise be silently ignored); the message lists the
    known keys. A package whose callers catch its own config error raises a subclass of both (the grader's
    ``UnknownKeyError`` is also a ``ConfigError``)."""

    def __str__(self) -> str:  # KeyError's str() quotes the message; show it plainly
        return str(self.args[0])


def check_keys(keys: Iterable[str], known, what: str, error: type[ConfigKeyError] = ConfigKeyError) -> None:
    """Raise ``error`` if a key in ``keys`` is not in ``known`` (names, or a dataclass whose fields are the
    names): the kit's one unknown-key check. ``what`` names the config (or the file) in the message."""
    known = {f.name for f in fields(known)} if dataclasses.is_dataclass(known) else set(known)
    unknown = sorted(set(keys) - known)
    if unknown:
        raise error(f"{what}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(known))}")


class Config:
    """Base of the kit's config dataclasses (a mixin: subclasses are ``@dataclass``es whose fields all have
    defaults and ``help`` metadata)."""

    #: What an unknown key raises: ``ConfigKeyError`` or a subclass that is also the package's own config error.
    key_error: ClassVar[type[ConfigKeyError]] = ConfigKeyError

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]):
        """Build from a plain dict (e.g. parsed JSON); unknown keys raise ``ConfigKeyError`` listing the known
        ones; nested configs may be given as dicts."""
        check_keys(d, cls, cls.__name__, cls.key_error)
        return cls().replace(**d)

    def to_dict(self) -> dict:
        """JSON-friendly dict; ``type(cfg).from_dict(cfg.to_dict()) == cfg``."""
        return asdict(self)

    def replace(self, **changes):
        """A copy with ``changes``; unknown keys raise ``ConfigKeyError``.

        A dotted key changes one entry inside a field: ``replace(**{"model_kwargs.latent_dim": 32})`` keeps the
        other ``model_kwargs``; ``replace(classifier={"epochs": 1})`` changes one key of a nested config.
        """
        check_keys([k.partition(".")[0] for k in changes], type(self), type(self).__name__, self.key_error)
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
                raise self.key_error(f"{type(self).__name__}.{name} has no keys: cannot set {key!r}")
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


def _option_type(annotation) -> tuple[Any, bool]:
    """``(type of one value, several values?)`` for a field's resolved annotation: ``X | None`` is ``X``,
    ``list[X]`` and ``tuple[X, ...]`` take one or more ``X``."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return _option_type(args[0])
    if typing.get_origin(annotation) in (list, tuple):
        return (args[0] if args else str), True
    return annotation, False


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, *, only: Sequence[str] | None = None,
                         skip: Iterable[str] = (), flags: Mapping[str, str] | None = None,
                         shown: Mapping[str, str] | None = None) -> None:
    """One option per field of the config dataclass ``cls`` (``only`` those, in that order; else every field not
    in ``skip``): ``--field-name`` (or ``flags[name]``), the help from the field's ``help`` metadata followed by its
    default (or ``shown[name]``), the type from its annotation (a list or tuple takes one or more values; a bool is
    the one switch that changes its default: ``--x`` for a field off by default, ``--no-x`` for one on by
    default). An option that is not given is ``None`` in the parsed arguments, so the config's own default applies:
    ``config_overrides(args, cls)`` returns the given ones."""
    hints = typing.get_type_hints(cls)
    by_name = {f.name: f for f in fields(cls)}
    check_keys(list(only or ()) + list(skip) + list(flags or ()) + list(shown or ()), by_name, cls.__name__)
    for name in only or [n for n in by_name if n not in set(skip)]:
        f = by_name[name]
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        kind, many = _option_type(hints[name])
        text = (shown or {}).get(name, _shown(default))
        option = dict(default=None, dest=name, help=f"{f.metadata.get('help', '')} (default: {text})")
        flag = (flags or {}).get(name, "--" + name.replace("_", "-"))
        if kind is bool:        # the switch that changes the default: --x for an off field, --no-x for an on one
            option.update(action="store_const", const=not default)
            if default and name not in (flags or {}):
                flag = "--no-" + name.replace("_", "-")
        else:
            option.update(type=kind, nargs="+" if many else None)
        parser.add_argument(flag, **option)


def _shown(default) -> str:
    """A default as it reads in ``--help``: ``none``, ``text``, ``a b`` for a list."""
    if default is None:
        return "none"
    if isinstance(default, (list, tuple)):
        return " ".join(map(str, default)) or "none"
    return str(default) or "''"


def config_overrides(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of ``cls`` given on the command line (options made by ``add_config_arguments``), as keyword
    arguments for the config (a tuple field gets a tuple)."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in fields(cls):
        value = getattr(args, f.name, None)
        if value is not None:
            out[f.name] = tuple(value) if typing.get_origin(hints[f.name]) is tuple else value
    return out
