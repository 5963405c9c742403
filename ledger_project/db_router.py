"""Where queries go when a read replica is configured (DATABASE_REPLICA_URL, off by default).

The router sends nothing to the replica on its own: every query Django routes implicitly reads
and writes the primary (`default`). A read that may be slightly stale says so by name, with
`.using(replica_alias())` in its selector (transaction_list, ledger_entry_list): explicit beats
magic here because the harm is one-sided. A query sent to a lagging replica by a rule that
guessed wrong shows a client a balance without its own transfer; a query left on the primary
costs only the primary's time. So the write's own answer, the balance route, idempotency replays
and everything inside a write's atomic block stay on the primary without anyone having to
remember it, and a new stale-tolerant read is opted in by a reviewer who can see it.
"""

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

REPLICA_ALIAS = "replica"


def replica_alias() -> str:
    """The alias for a read that may lag the primary by the replication delay: the replica when
    one is configured, else the primary. Inside an atomic block on the primary it is the primary,
    so a read after a write in the same transaction sees that write."""
    if REPLICA_ALIAS not in settings.DATABASES or connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return DEFAULT_DB_ALIAS
    return REPLICA_ALIAS


class PrimaryRouter:
    """Every implicit read and write on the primary; schema changes there only (they reach a
    replica by replication: `migrate --database replica` is a no-op). Relations across the two
    aliases are allowed: they hold the same rows."""

    def db_for_read(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS


class ReplicaChangelistMixin:
    """ModelAdmin: the change list page (a GET) reads the replica when one is configured: its
    rows, counts and filters, the heaviest of the admin's reads, may lag like the API's lists.
    Everything else stays on the primary: the change page an operator acts from, and every POST
    (an action's selection is read again on the primary, inside its write)."""

    def changelist_view(self, request, extra_context=None):
        request.reads_replica = request.method in ("GET", "HEAD")
        return super().changelist_view(request, extra_context)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if getattr(request, "reads_replica", False):
            return queryset.using(replica_alias())
        return queryset
