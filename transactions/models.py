import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Account
from ledger_project.metadata import metadata_field, metadata_index


class IdempotencyKey(models.Model):
    """A client's idempotency key, claimed once per user.

    The claim is an insert under the unique constraint, in the same database transaction as the
    ledger write: a concurrent request with the same key waits on that insert until the first
    commits, then finds this row and replays its transaction. `fingerprint` is what the key was
    used for (kind, accounts, amount); the same key with another fingerprint is refused.
    """

    # No index of its own: idempotency_one_outcome_per_key leads with it (one index write fewer per row).
    initiator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["initiator", "key"], name="idempotency_one_outcome_per_key"),
        ]

    def __str__(self):
        return self.key


class Transaction(models.Model):
    """One movement of money between two accounts of the same currency.

    A COMPLETED transaction has exactly one DEBIT entry (from_account) and one CREDIT entry
    (to_account) of its amount; a FAILED one (a decline) has none. It is written in its final
    state in one database transaction with its entries, so PENDING is never seen outside it.
    A REVERSAL moves a COMPLETED transaction's amount back and marks the original REVERSED.
    """

    class Kind(models.TextChoices):
        TRANSFER = "TRANSFER"
        FUNDING = "FUNDING"
        REVERSAL = "REVERSAL"

    class Status(models.TextChoices):
        PENDING = "PENDING"
        COMPLETED = "COMPLETED"
        FAILED = "FAILED"
        REVERSED = "REVERSED"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    status = models.CharField(max_length=9, choices=Status.choices)
    # No indexes of their own: transaction_from_created_idx and transaction_to_created_idx lead with
    # them (one index write fewer per row each).
    from_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="outgoing_transactions", db_index=False
    )
    to_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="incoming_transactions", db_index=False
    )
    amount = models.BigIntegerField(help_text="In the currency's minor unit.")
    currency = models.CharField(max_length=3)
    failure_reason = models.CharField(max_length=32, blank=True, default="")
    initiator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Null only for a batch's items: the key belongs to their batch (CHECK transaction_key_or_batch).
    idempotency = models.OneToOneField(
        IdempotencyKey, null=True, blank=True, on_delete=models.PROTECT, related_name="transaction"
    )
    # No index of its own: the partial transaction_batch_idx serves `batch_id = x`, and a full one
    # took a NULL entry from every other transaction.
    batch = models.ForeignKey(
        "Batch",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="transactions",
        editable=False,
        db_index=False,
    )
    # Indexed where set only (transaction_reverses_idx): a transfer has none, and a full index took
    # one entry per transfer all the same.
    reverses = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals", db_index=False
    )
    reason = models.CharField(max_length=500, blank=True, default="", help_text="Why a reversal was made.")
    # A hold's capture; one-to-one, so the database itself refuses a second capture of a hold.
    hold = models.OneToOneField(
        "Hold", null=True, blank=True, on_delete=models.PROTECT, related_name="capture", editable=False
    )
    # Shown to its initiator only (the other side sees nothing of it); a capture has none.
    metadata = metadata_field()
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="transaction_amount_positive"),
            models.CheckConstraint(
                condition=models.Q(kind__in=["TRANSFER", "FUNDING", "REVERSAL"]), name="transaction_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["PENDING", "COMPLETED", "FAILED", "REVERSED"]),
                name="transaction_status_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(from_account=models.F("to_account")), name="transaction_distinct_accounts"
            ),
            models.CheckConstraint(
                condition=models.Q(kind="REVERSAL", reverses__isnull=False)
                | models.Q(~models.Q(kind="REVERSAL"), reverses__isnull=True),
                name="transaction_reversal_has_original",
            ),
            # Every transaction answers to exactly one key: its own, or its batch's.
            models.CheckConstraint(
                condition=models.Q(idempotency__isnull=False, batch__isnull=True)
                | models.Q(idempotency__isnull=True, batch__isnull=False, kind="TRANSFER"),
                name="transaction_key_or_batch",
            ),
            # Failed reversal attempts may repeat; only one may complete. Over reversals only: the
            # index holds no entry for every other completed transaction.
            models.UniqueConstraint(
                fields=["reverses"],
                condition=models.Q(status="COMPLETED", reverses__isnull=False),
                name="transaction_one_completed_reversal",
            ),
        ]
        indexes = [
            models.Index(fields=["from_account", "created_at"], name="transaction_from_created_idx"),
            models.Index(fields=["to_account", "created_at"], name="transaction_to_created_idx"),
            # The admin dashboard's transfers per hour (a time range over every account) and the
            # admin's newest-first list. Kind and status ride along so the hourly counts are an
            # index-only scan; migration 0004 builds it without locking out writes.
            models.Index(fields=["created_at"], name="transaction_created_idx", include=["kind", "status"]),
            models.Index(fields=["batch"], condition=models.Q(batch__isnull=False), name="transaction_batch_idx"),
            models.Index(
                fields=["reverses"], condition=models.Q(reverses__isnull=False), name="transaction_reverses_idx"
            ),
            metadata_index("transaction"),
        ]

    def __str__(self):
        return f"{self.kind} {self.id} ({self.status})"


class Batch(models.Model):
    """Up to BATCH_MAX_TRANSFERS transfers of one request, applied in order in one database
    transaction (transactions/batches.py). Its idempotency key is the one outcome of the request:
    its items carry no key of their own. `response` is the answer the request got (status and
    body), replayed verbatim for the same key; an atomic batch that was declined has no items.
    """

    class Status(models.TextChoices):
        COMPLETED = "COMPLETED"
        PARTIAL = "PARTIAL"
        FAILED = "FAILED"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    initiator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    idempotency = models.OneToOneField(IdempotencyKey, on_delete=models.PROTECT, related_name="batch")
    atomic = models.BooleanField()
    status = models.CharField(max_length=9, choices=Status.choices)
    count = models.PositiveIntegerField(help_text="Transfers requested.")
    response_status = models.PositiveSmallIntegerField()
    response = models.JSONField(help_text="The body the request was answered with, replayed for its key.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "batches"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["COMPLETED", "PARTIAL", "FAILED"]), name="batch_status_valid"
            ),
            models.CheckConstraint(condition=models.Q(count__gt=0), name="batch_count_positive"),
            # All or nothing: an atomic batch either completed or was declined, never partly.
            models.CheckConstraint(
                condition=models.Q(atomic=False) | ~models.Q(status="PARTIAL"), name="batch_atomic_not_partial"
            ),
        ]

    def __str__(self):
        return f"BATCH {self.id} ({self.status})"


class Hold(models.Model):
    """Money reserved on `from_account` for `to_account`, moved later by one capture or released.

    While PENDING its amount counts in the source's `held` (so in no funds check's `available`),
    unless `expires_at` has passed: an expired hold counts for nothing and cannot be captured,
    even before `holds_expire` marks it EXPIRED and releases `held`. A capture is a COMPLETED
    TRANSFER whose `hold` is this row (one at most: a one-to-one link), of at most `amount`.
    A FAILED hold is a decline; like a FAILED transaction it reserved nothing.
    """

    class Status(models.TextChoices):
        PENDING = "PENDING"
        CAPTURED = "CAPTURED"
        VOIDED = "VOIDED"
        EXPIRED = "EXPIRED"
        FAILED = "FAILED"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No indexes of their own: hold_from_created_idx and hold_to_created_idx lead with them.
    from_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="outgoing_holds", db_index=False)
    to_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="incoming_holds", db_index=False)
    amount = models.BigIntegerField(help_text="In the currency's minor unit.")
    captured_amount = models.BigIntegerField(null=True, blank=True, help_text="Set by the capture.")
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=8, choices=Status.choices)
    expires_at = models.DateTimeField()
    failure_reason = models.CharField(max_length=32, blank=True, default="")
    initiator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    idempotency = models.OneToOneField(IdempotencyKey, on_delete=models.PROTECT, related_name="hold")
    # The void's key, so a repeated void replays; captures keep theirs on the capture's transaction.
    void_idempotency = models.OneToOneField(
        IdempotencyKey, null=True, blank=True, on_delete=models.PROTECT, related_name="voided_hold"
    )
    metadata = metadata_field()  # shown to its creator only, like a transaction's
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="hold_amount_positive"),
            models.CheckConstraint(
                condition=models.Q(status__in=["PENDING", "CAPTURED", "VOIDED", "EXPIRED", "FAILED"]),
                name="hold_status_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(from_account=models.F("to_account")), name="hold_distinct_accounts"
            ),
            # Only a capture sets captured_amount, and never above what was held.
            models.CheckConstraint(
                condition=models.Q(status="CAPTURED", captured_amount__gt=0, captured_amount__lte=models.F("amount"))
                | models.Q(~models.Q(status="CAPTURED"), captured_amount__isnull=True),
                name="hold_captured_within_amount",
            ),
        ]
        indexes = [
            models.Index(fields=["from_account", "created_at"], name="hold_from_created_idx"),
            models.Index(fields=["to_account", "created_at"], name="hold_to_created_idx"),
            # What the expiry sweep and the exact funds check look for: PENDING holds by expiry.
            models.Index(
                fields=["from_account", "expires_at"],
                condition=models.Q(status="PENDING"),
                name="hold_pending_expiry_idx",
            ),
            models.Index(fields=["expires_at"], condition=models.Q(status="PENDING"), name="hold_pending_sweep_idx"),
            metadata_index("hold"),
        ]

    def __str__(self):
        return f"HOLD {self.id} ({self.status})"

    def is_expired(self, now) -> bool:
        return self.expires_at <= now

    def effective_status(self, now) -> str:
        """The status as the API states it: PENDING past its expiry is EXPIRED, swept or not."""
        if self.status == self.Status.PENDING and self.is_expired(now):
            return self.Status.EXPIRED
        return self.status


class LedgerEntry(models.Model):
    """One side of a completed transaction on one account. Never updated or deleted.

    `balance_after` is the account's balance once this entry applied, so the newest entry's
    value equals the account's stored balance.
    """

    class Type(models.TextChoices):
        DEBIT = "DEBIT"
        CREDIT = "CREDIT"

    # No indexes of their own: ledger_entry_one_side_each leads with the transaction and
    # ledger_entry_account_id_idx with the account (one index write fewer per entry each).
    # No foreign-key constraints either: the balanced-transaction trigger (migration 0011) refuses
    # an entry whose transaction does not exist or whose account is not that transaction's (nor
    # of its currency), and the transaction's own foreign keys hold its accounts. A constraint
    # would check each entry a second time, at commit, while the accounts are locked.
    transaction = models.ForeignKey(
        Transaction, on_delete=models.PROTECT, related_name="entries", db_index=False, db_constraint=False
    )
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="entries", db_index=False, db_constraint=False
    )
    type = models.CharField(max_length=6, choices=Type.choices)
    amount = models.BigIntegerField(help_text="In the currency's minor unit.")
    balance_after = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "ledger entries"
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="ledger_entry_amount_positive"),
            models.CheckConstraint(condition=models.Q(type__in=["DEBIT", "CREDIT"]), name="ledger_entry_type_valid"),
            models.UniqueConstraint(fields=["transaction", "type"], name="ledger_entry_one_side_each"),
        ]
        indexes = [
            # The entries route pages by (account, id), newest first.
            models.Index(fields=["account", "-id"], name="ledger_entry_account_id_idx"),
            # Statements and `?asOf=` find an instant's entry by time (one index lookup), and sum a
            # period's credits and debits from the index alone (an index-only scan).
            models.Index(
                fields=["account", "created_at", "id"], include=["type", "amount"], name="ledger_entry_account_time_idx"
            ),
        ]

    def __str__(self):
        # No amount: it means nothing without the account's currency (the admin shows it as money).
        return f"{self.type} entry {self.pk}"


def entries_prefetch():
    """A transaction's entries as the list `entry_list`, debit first: what its JSON shows. Each
    with its account (a join, not a query), whose owner decides who sees `balanceAfter`."""
    return models.Prefetch(
        "entries", queryset=LedgerEntry.objects.select_related("account").order_by("id"), to_attr="entry_list"
    )


class LedgerAudit(models.Model):
    """One run of verify_ledger (nightly by beat, or by hand); the newest is shown by /api/health."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    ok = models.BooleanField()
    summary = models.TextField()
    violations = models.JSONField(default=dict, help_text="check name → offending ids")

    class Meta:
        indexes = [models.Index(fields=["-finished_at"], name="ledger_audit_newest_idx")]

    def __str__(self):
        return f"{self.finished_at:%Y-%m-%d %H:%M} {'OK' if self.ok else 'VIOLATED'}"
