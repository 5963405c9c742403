from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone


class OutboxEmailQuerySet(models.QuerySet):
    def due(self, now):
        """Rows to hand to a worker at `now`: neither sent nor failed, and past their next attempt
        (a row just handed over is leased until then)."""
        return self.filter(sent_at__isnull=True, failed_at__isnull=True, next_attempt_at__lte=now)


class OutboxEmail(models.Model):
    """An email to send, written in the same database transaction as the change that causes it.

    The row is the source of truth: it exists if and only if the change committed. It ends either
    sent (`sent_at`, set under a row lock when the mail backend took it, so a row is sent once
    however many times its task runs) or failed (`failed_at`: refused for good, or out of
    attempts), never both; until then `next_attempt_at` says when it is due again.

    A batch's summary to one owner names its batch and owner instead of holding its text: the body
    is written from the batch's entries when the email is sent (notifications.emails), not while
    the batch holds its accounts locked.
    """

    to = models.EmailField(max_length=254)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    # Database defaults too, so that rows inserted by plain SQL (bench/sql) are due at once.
    attempts = models.PositiveIntegerField(default=0, db_default=0)
    last_error = models.TextField(blank=True, default="", db_default="")
    next_attempt_at = models.DateTimeField(default=timezone.now, db_default=Now())
    # Never looked up from this side: no index, none of the null entries every other row would add.
    batch = models.ForeignKey(
        "transactions.Batch", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )

    objects = OutboxEmailQuerySet.as_manager()

    class Meta:
        indexes = [
            # The relay reads only the rows still to send, the longest-waiting first.
            models.Index(
                fields=["next_attempt_at"],
                name="outbox_due_idx",
                condition=models.Q(sent_at__isnull=True, failed_at__isnull=True),
            ),
            # The admin dashboard's backlog: unsent and failed rows, a few among millions sent.
            models.Index(fields=["created_at"], name="outbox_not_sent_idx", condition=models.Q(sent_at__isnull=True)),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(sent_at__isnull=True) | models.Q(failed_at__isnull=True),
                name="outbox_sent_or_failed_not_both",
            ),
            # A batch summary is written for one owner.
            models.CheckConstraint(
                condition=models.Q(batch__isnull=True) | models.Q(owner__isnull=False),
                name="outbox_batch_summary_has_owner",
            ),
        ]

    def __str__(self):
        return f"{self.subject} → {self.to}"

    @property
    def status(self) -> str:
        if self.sent_at:
            return "sent"
        return "failed" if self.failed_at else "pending"
