"""Fixtures for tests/deploy."""

import pytest

from deploy_support import PRODUCTION_VALUES, load_yaml


@pytest.fixture(scope="session")
def production_values() -> dict:
    return load_yaml(PRODUCTION_VALUES)
