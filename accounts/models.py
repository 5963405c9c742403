import uuid

from django.conf import settings
from django.db import models


class Account(models.Model):
    """A user's balance in one currency.

    `balance` is in minor units and always equals the sum of the account's ledger entries
    (credits minus debits); it is stored so that reads are O(1), and only the transfer services
    change it, under a row lock. Only a system user's funding account (`is_system`) may go below
    zero: it is where money enters the ledger.

    `held` is the sum of the account's PENDING holds (transactions.Hold): money reserved, not yet
    moved. What the owner can spend now is `available`; every funds check reads it on the locked row.
    """

    class Status(models.TextChoices):
        ACTIVE = "ACTIVE"
        FROZEN = "FROZEN"
        CLOSED = "CLOSED"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="accounts")
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=6, choices=Status.choices, default=Status.ACTIVE)
    balance = models.BigIntegerField(default=0)
    held = models.BigIntegerField(default=0, help_text="In the currency's minor unit: the PENDING holds.")
    is_system = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["ACTIVE", "FROZEN", "CLOSED"]), name="account_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(is_system=True) | models.Q(balance__gte=0), name="account_balance_non_negative"
            ),
            models.CheckConstraint(condition=models.Q(held__gte=0), name="account_held_non_negative"),
            # The overdraft floor, 0 until operators can set a limit (issue 14): balance − held ≥ 0.
            models.CheckConstraint(
                condition=models.Q(is_system=True) | models.Q(balance__gte=models.F("held")),
                name="account_available_non_negative",
            ),
            models.CheckConstraint(condition=models.Q(currency__regex=r"^[A-Z]{3}$"), name="account_currency_code"),
            models.UniqueConstraint(
                fields=["owner", "currency"],
                condition=models.Q(is_system=True),
                name="account_one_funding_per_currency",
            ),
        ]
        indexes = [models.Index(fields=["owner", "created_at"], name="account_owner_created_idx")]

    # How far below zero `available` may go; 0 until limits exist (issue 14 makes it a column).
    overdraft_limit = 0

    @property
    def available(self) -> int:
        """What can be spent now: the one place the overdraft floor enters a funds check."""
        return self.balance - self.held + self.overdraft_limit

    def __str__(self):
        return f"{self.id} ({self.currency}, {self.status})"
