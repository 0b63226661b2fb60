from pathlib import Path

import starter_code
from starter_code.config import TrainConfig

README = Path(starter_code.__file__).with_name("README.md")


def test_config_table_is_current():
    assert TrainConfig.help_table() in README.read_text(encoding="utf-8")


def test_lazy_exports_resolve():
    for name in starter_code.__all__:
        assert getattr(starter_code, name) is not None, name
