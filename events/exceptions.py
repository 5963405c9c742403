from ledger_project.exceptions import NotFoundError


class EventNotFoundError(NotFoundError):
    """No such event, or it belongs to someone else."""

    message = "Event not found."
