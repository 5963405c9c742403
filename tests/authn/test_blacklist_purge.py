from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from authn import tasks
from authn.models import BlacklistedToken
from authn.services import blacklist_purge_expired


def _purge_command():
    call_command("purge_blacklist")


@pytest.mark.parametrize(
    "purge",
    [blacklist_purge_expired, _purge_command, tasks.blacklist_purge_expired],
    ids=["service", "command", "task"],
)
def test_purge_deletes_only_expired_rows(db, purge):
    now = timezone.now()
    BlacklistedToken.objects.create(jti="expired", expires_at=now - timedelta(seconds=1))
    BlacklistedToken.objects.create(jti="expired-long-ago", expires_at=now - timedelta(days=30))
    BlacklistedToken.objects.create(jti="alive", expires_at=now + timedelta(minutes=1))

    purge()

    assert list(BlacklistedToken.objects.values_list("jti", flat=True)) == ["alive"]


def test_purge_counts_what_it_deleted(db, capsys):
    BlacklistedToken.objects.create(jti="expired", expires_at=timezone.now() - timedelta(seconds=1))
    BlacklistedToken.objects.create(jti="alive", expires_at=timezone.now() + timedelta(minutes=1))

    call_command("purge_blacklist")

    assert capsys.readouterr().out == "Deleted 1 expired blacklisted token(s).\n"
    assert blacklist_purge_expired() == 0
