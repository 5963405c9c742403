from django.db import models


class OutboxEmail(models.Model):
    """An email to send, written in the same database transaction as the change that causes it.

    The row is the source of truth: it exists if and only if the change committed, and
    `sent_at` is set (under a row lock) when it has been handed to the mail backend, so a row is
    sent once however many times its task runs.
    """

    to = models.EmailField(max_length=254)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # Beat's re-dispatch reads only the unsent rows, oldest first.
            models.Index(fields=["created_at"], name="outbox_unsent_idx", condition=models.Q(sent_at__isnull=True)),
        ]

    def __str__(self):
        return f"{self.subject} → {self.to}"
