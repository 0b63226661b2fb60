import doctest

import pytest

import starter_code.config
import starter_code.models


@pytest.mark.parametrize("module", [starter_code.config, starter_code.models], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
