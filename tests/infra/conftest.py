"""Fixtures for the offline checks of infra/: the Terraform configuration, parsed once."""

from __future__ import annotations

import pytest

from tests.support.infra import TERRAFORM, Configuration


@pytest.fixture(scope="session")
def terraform() -> Configuration:
    return Configuration(TERRAFORM)
