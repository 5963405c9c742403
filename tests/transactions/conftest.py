import pytest

from tests.factories import AccountFactory, funded_account


@pytest.fixture
def source(user):
    """The caller's account, holding 100.00."""
    return funded_account("100.00", owner=user)


@pytest.fixture
def target(other_user):
    """Another user's empty account of the same currency."""
    return AccountFactory(owner=other_user)
