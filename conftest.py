"""Test-session settings shared by tests/ and the nbval run over notebooks/."""

import pytest


def pytest_collection_modifyitems(config, items):
    # nbval items execute whole notebooks: mark them slow so `-m "not slow"` stays quick
    for item in items:
        if str(item.fspath).endswith(".ipynb"):
            item.add_marker(pytest.mark.slow)
