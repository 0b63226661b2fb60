import doctest

import pytest

import common.config
import starter_code.config
import starter_code.models


@pytest.mark.parametrize("module", [common.config, starter_code.config, starter_code.models],
                         ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
