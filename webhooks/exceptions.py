from ledger_project.exceptions import ApplicationError, NotFoundError


class WebhookNotFoundError(NotFoundError):
    """No such webhook endpoint, or it belongs to someone else."""

    message = "Webhook endpoint not found."


class EventNotFoundError(NotFoundError):
    """No such event, or it belongs to someone else."""

    message = "Event not found."


class WebhookLimitReachedError(ApplicationError):
    """The owner already has WEBHOOK_MAX_ENDPOINTS_PER_USER endpoints."""

    status_code = 409
    code = "webhook_limit_reached"
    message = "You have reached the maximum number of webhook endpoints."


class WebhookDisabledError(ApplicationError):
    """A test message to a disabled endpoint would never be sent."""

    status_code = 409
    code = "webhook_disabled"
    message = "The webhook endpoint is disabled; enable it first."
