"""Structured logs: every line one JSON object, carrying the id of its request or Celery task.

Django, Celery, gunicorn and our modules all log through the standard library's `logging`;
structlog's ProcessorFormatter renders each record as JSON and adds what was bound for the
current request or task (`structlog.contextvars`: the request id by RequestIdMiddleware, the
task id by the Celery signals in ledger_project/celery.py). Nothing here imports Django:
gunicorn's master uses the same formatter (deploy/gunicorn.conf.py) before any app is loaded.
"""

import logging
import re

import structlog

REDACTED = "[redacted]"
# A key of these names in a log event never shows its value, whoever logged it.
SECRET_KEYS = frozenset(
    {"password", "passwd", "secret", "token", "access", "refresh", "authorization", "cookie", "api_key", "jwt"}
)
# A bearer credential or a JWT inside a message: a library's error that quotes a header, say.
SECRET_TEXT = re.compile(r"(?i)\bbearer\s+[^\s,;\"']+|\beyJ[\w-]*\.[\w-]+\.[\w-]*")

# Celery's lines about beat's outbox relay, which runs every second: sent, received, succeeded,
# or discarded as expired behind a backlog.
RELAY_TASK = "notifications.tasks.outbox_relay"
RELAY_LOGGERS = frozenset({"celery.beat", "celery.worker.strategy", "celery.worker.request", "celery.app.trace"})


def secrets_redact(logger, method_name, event_dict):
    for key in event_dict.keys() & SECRET_KEYS:
        event_dict[key] = REDACTED
    event = event_dict.get("event")
    # The cheap test first: most lines hold neither word.
    if isinstance(event, str) and ("eyJ" in event or "earer" in event):
        event_dict["event"] = SECRET_TEXT.sub(REDACTED, event)
    return event_dict


def gunicorn_access_fields(logger, method_name, event_dict):
    """gunicorn's access line as fields: method, path without its query string (which may carry
    a credential), status, duration; the request id from the response's X-Request-Id, since the
    line is written after the request left Django (or never reached it)."""
    # The formatter hands every foreign record's arguments over (pass_foreign_args); only this
    # line has a use for them, and no other line may show them.
    atoms = event_dict.pop("positional_args", None)
    record = event_dict.get("_record")
    if record is None or record.name != "gunicorn.access" or not isinstance(atoms, dict):
        return event_dict
    request_id = atoms.get("{x-request-id}o", "-")
    event_dict.pop("request_id", None)  # the thread's previous request, if this one skipped Django
    if request_id != "-":
        event_dict["request_id"] = request_id
    event_dict.update(
        event="request",
        method=atoms.get("m"),
        path=atoms.get("U"),
        status=atoms.get("s"),
        bytes=atoms.get("B"),
        duration_ms=atoms.get("M"),
        remote=atoms.get("h"),
    )
    return event_dict


def _timestamp():
    return structlog.processors.TimeStamper(fmt="iso", utc=True)


def json_formatter() -> structlog.stdlib.ProcessorFormatter:
    """The formatter of every handler (settings.LOGGING, deploy/gunicorn.conf.py)."""
    return structlog.stdlib.ProcessorFormatter(
        pass_foreign_args=True,
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.add_log_level,
            _timestamp(),
            gunicorn_access_fields,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            secrets_redact,
            # Tracebacks as text: structlog's dict tracebacks would show each frame's local
            # variables, a password among them.
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )


class RelayChatterFilter(logging.Filter):
    """Drop Celery's INFO lines about the outbox relay (sent by beat, received and succeeded in
    the worker, every second) unless the root logger is at DEBUG. The relay logs on its own, at
    INFO, when it handed emails over."""

    def filter(self, record):
        if record.levelno > logging.INFO or record.name not in RELAY_LOGGERS:
            return True
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            return True
        args = record.args
        names = args.values() if isinstance(args, dict) else (args or ())
        return RELAY_TASK not in names


def logging_config(level: str) -> dict:
    """settings.LOGGING: one stream handler on the root logger, JSON lines. structlog's own
    loggers, should a module use one, hand their events to that handler too."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.add_log_level,
            _timestamp(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "ledger_project.logs.json_formatter"}},
        "filters": {"relay_chatter": {"()": "ledger_project.logs.RelayChatterFilter"}},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["relay_chatter"]},
        },
        "root": {"handlers": ["console"], "level": level},
        # Django sets its own logger to INFO; follow LOG_LEVEL instead.
        "loggers": {"django": {"level": level}},
    }
