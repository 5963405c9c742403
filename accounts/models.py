import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce

from ledger_project.metadata import metadata_field, metadata_index

# The per-account limits (API.md, "Limits and simple fraud rules"), by column and JSON name; each
# a nullable BIGINT of minor units (a count for daily_debit_count), null meaning "none".
LIMIT_FIELDS = {
    "overdraft_limit": "overdraftLimit",
    "max_balance": "maxBalance",
    "per_transfer_max": "perTransferMax",
    "daily_debit_amount": "dailyDebitAmount",
    "daily_debit_count": "dailyDebitCount",
    "monthly_debit_amount": "monthlyDebitAmount",
}


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
    # Limits set by operators (transactions/limits.py enforces them on the locked row); null = none.
    overdraft_limit = models.BigIntegerField(null=True, blank=True, help_text="How far below zero available may go.")
    max_balance = models.BigIntegerField(null=True, blank=True)
    per_transfer_max = models.BigIntegerField(null=True, blank=True)
    daily_debit_amount = models.BigIntegerField(null=True, blank=True, help_text="Outgoing per UTC day.")
    daily_debit_count = models.BigIntegerField(null=True, blank=True, help_text="Outgoing debits per UTC day.")
    monthly_debit_amount = models.BigIntegerField(null=True, blank=True, help_text="Outgoing per calendar month.")
    metadata = metadata_field()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["ACTIVE", "FROZEN", "CLOSED"]), name="account_status_valid"
            ),
            models.CheckConstraint(condition=models.Q(held__gte=0), name="account_held_non_negative"),
            # The overdraft floor: balance − held ≥ −overdraft_limit (0 when none is set). It also
            # keeps the balance itself at or above −overdraft_limit, since held ≥ 0.
            models.CheckConstraint(
                condition=models.Q(is_system=True)
                | models.Q(balance__gte=models.F("held") - Coalesce(models.F("overdraft_limit"), 0)),
                name="account_available_within_overdraft",
            ),
            models.CheckConstraint(
                condition=models.Q(overdraft_limit__gte=0)
                & models.Q(max_balance__gte=0)
                & models.Q(per_transfer_max__gte=0)
                & models.Q(daily_debit_amount__gte=0)
                & models.Q(daily_debit_count__gte=0)
                & models.Q(monthly_debit_amount__gte=0),
                name="account_limits_non_negative",
                violation_error_message="Limits are not negative.",
            ),
            models.CheckConstraint(condition=models.Q(currency__regex=r"^[A-Z]{3}$"), name="account_currency_code"),
            models.UniqueConstraint(
                fields=["owner", "currency"],
                condition=models.Q(is_system=True),
                name="account_one_funding_per_currency",
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "created_at"], name="account_owner_created_idx"),
            metadata_index("account"),
        ]

    @property
    def available(self) -> int:
        """What can be spent now: the one place the overdraft floor enters a funds check."""
        return self.balance - self.held + (self.overdraft_limit or 0)

    def limits(self) -> dict:
        """`{column: minor units or None}` for every limit."""
        return {name: getattr(self, name) for name in LIMIT_FIELDS}

    def __str__(self):
        return f"{self.id} ({self.currency}, {self.status})"


class AccountUsage(models.Model):
    """What an account with a daily or monthly limit has sent in one window (a UTC day or a
    calendar month): the amount and count of its transfers and holds created in it, a void or
    expiry giving its hold's share back (transactions/usage.py). Kept only while the account has
    such a limit, and only changed under the account's row lock, so the limit check reads it, not
    the history."""

    class Window(models.TextChoices):
        DAY = "DAY"
        MONTH = "MONTH"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="usage_rows")
    window = models.CharField(max_length=5, choices=Window.choices)
    starts_on = models.DateField(help_text="The window's first UTC day.")
    amount = models.BigIntegerField(default=0)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "window", "starts_on"], name="account_usage_one_per_window"),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0) & models.Q(count__gte=0), name="account_usage_non_negative"
            ),
        ]

    def __str__(self):
        return f"{self.account_id} {self.window} {self.starts_on}"
