"""gunicorn as shipped (`gunicorn -c deploy/gunicorn.conf.py ledger_project.wsgi`): the Procfile's
`web` line, the image and compose. nginx (deploy/nginx/) is the edge in front of it: it holds
slow clients, sheds overload and hides the server's name, which gunicorn has no setting for.
"""

import os
import shutil
import tempfile
from pathlib import Path

from gunicorn import util

bind = os.environ.get("WEB_BIND", "127.0.0.1:8001")
workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
worker_class = "gthread"

# Longer than nginx's upstream keepalive_timeout (60 s): the side that closes an idle connection
# is always nginx, never gunicorn under a request nginx is just sending (gunicorn's 2 s default
# broke reused connections, issue 9 item 26), and longer than a direct client's usual idle.
keepalive = 90

# nginx reads request lines and header lines of up to 8 KB (large_client_header_buffers 4 8k) and
# at most 32 KB of headers in all, so at most about 8,000 header lines: gunicorn's limits go to
# their maximums to stay above that.
limit_request_line = 8190
limit_request_field_size = 8190
limit_request_fields = 32768

# Several gunicorns on one machine (`make run`, the bench, the tests) would take each other's
# default control socket, which is one path per machine user.
control_socket_disable = True

# Logs as JSON lines on stderr, like Django's (ledger_project/logs.py): one "request" line per
# request with its id (the response's X-Request-Id), method, path without the query string (which
# may carry a credential), status and duration. This message is what remains if that formatter
# is ever bypassed, so it too leaves the query string out.
access_log_format = "%(m)s %(U)s %(s)s"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "ledger_project.logs.json_formatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
    },
}

# /metrics adds up every worker's request and database metrics: prometheus_client's multiprocess
# mode, each worker writing to files in one directory. Set here, in the master, before any worker
# imports prometheus_client (which reads it at import). A directory of this server's own unless
# PROMETHEUS_MULTIPROC_DIR names one; emptied at start either way, since files left by an earlier
# server would be added in.
_own_metrics_dir = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ledger-metrics-")
for _stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
    _stale.unlink()


def child_exit(server, worker):
    # A worker that exited: its gauges go, its counters stay in the sums.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


# gunicorn refuses a request it cannot parse (a control character in a header, a raw non-ASCII
# byte in the path, both of which nginx passes on) with an HTML page of its own, before Django
# sees it. gunicorn has no setting for that page, so its one writer of them is replaced here:
# the same refusal, in the API.md error shape. Loud, not silent, if gunicorn ever renames it.
def write_json_error(sock, status_int, reason, mesg):
    # Imported here: gunicorn reads this file before a worker loads Django (ledger_project.wsgi).
    from ledger_project import exceptions as e

    errors = {
        403: e.PermissionDeniedError,
        414: e.UriTooLongError,
        431: e.HeadersTooLargeError,
        500: e.ServerError,
        501: e.TransferCodingNotImplementedError,
    }
    body = e.error_response(errors.get(status_int, e.InvalidInputError)()).content
    head = f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
    util.write_nonblock(sock, f"{head}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body)


if not callable(getattr(util, "write_error", None)):
    raise RuntimeError("gunicorn.util.write_error is gone: see deploy/gunicorn.conf.py")
util.write_error = write_json_error
