"""``common.config``: the one unknown-key check, and command-line options made from a config's fields."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from common.config import Config, ConfigKeyError, add_config_arguments, check_keys, config_overrides
from common.errors import KitError


class SchemeKeyError(ConfigKeyError, ValueError):
    """A package's own key error (as the grader's ``UnknownKeyError`` is also its ``ConfigError``)."""


@dataclass
class Job(Config):
    name: str = field(default="run", metadata={"help": "What to call it."})
    workers: int = field(default=2, metadata={"help": "Processes."})
    out: Path | None = field(default=None, metadata={"help": "Where to write."})
    tags: tuple[str, ...] = field(default=("a", "b"), metadata={"help": "Labels."})
    kinds: list[str] = field(default_factory=list, metadata={"help": "Kinds kept."})
    verbose: bool = field(default=False, metadata={"help": "Say more."})
    color: bool = field(default=True, metadata={"help": "Colour the output."})


@dataclass
class Scheme(Config):
    key_error = SchemeKeyError
    points: float = field(default=1.0, metadata={"help": "Points."})


def test_one_check_and_its_error():
    with pytest.raises(ConfigKeyError, match="^Job: unknown key\\(s\\) wokers; known keys: color, kinds, name, out, tags"):
        Job.from_dict({"wokers": 3})
    with pytest.raises(ConfigKeyError, match="Job: unknown key"):
        Job().replace(nam="x")
    with pytest.raises(KeyError):  # students' `except KeyError` keeps working
        check_keys(["x"], ["y"], "thing")
    assert issubclass(ConfigKeyError, KitError)
    # a config may raise a subclass that is also its package's error: still the one check and message
    with pytest.raises(SchemeKeyError, match="Scheme: unknown key\\(s\\) point; known keys: points") as e:
        Scheme.from_dict({"point": 2})
    assert isinstance(e.value, ValueError) and isinstance(e.value, ConfigKeyError)
    with pytest.raises(SchemeKeyError, match="from.toml: unknown key"):
        check_keys({"point": 2}, Scheme, "from.toml", Scheme.key_error)
    assert Scheme.from_dict({"points": 2}).points == 2


def test_options_from_fields_defaults_and_help_once():
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, Job, shown={"workers": "one per core"})
    text = " ".join(parser.format_help().split())
    for line in ("--name NAME What to call it. (default: run)", "--workers WORKERS Processes. (default: one per core)",
                 "--out OUT Where to write. (default: none)", "Labels. (default: a b)", "Kinds kept. (default: none)",
                 "--verbose Say more. (default: False)", "--no-color Colour the output. (default: True)"):
        assert line in text, line
    assert config_overrides(parser.parse_args([]), Job) == {}       # the config's own defaults apply
    args = parser.parse_args(["--workers", "4", "--out", "o", "--tags", "x", "y", "--kinds", "k", "--verbose"])
    given = config_overrides(args, Job)
    assert given == {"workers": 4, "out": Path("o"), "tags": ("x", "y"), "kinds": ["k"], "verbose": True}
    assert Job.from_dict(given) == Job(workers=4, out=Path("o"), tags=("x", "y"), kinds=["k"], verbose=True)
    assert config_overrides(parser.parse_args(["--no-color"]), Job) == {"color": False}
    with pytest.raises(SystemExit):
        parser.parse_args(["--no-verbose"])             # a switch that would only restate the default


def test_options_subset_renamed_and_checked():
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, Job, only=("out", "name"), flags={"out": "--dest"})
    assert config_overrides(parser.parse_args(["--dest", "d"]), Job) == {"out": Path("d")}
    with pytest.raises(SystemExit):
        parser.parse_args(["--workers", "3"])
    with pytest.raises(ConfigKeyError, match="Job: unknown key\\(s\\) worker"):
        add_config_arguments(argparse.ArgumentParser(), Job, skip=("worker",))
