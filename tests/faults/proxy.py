"""nginx in front of a fault test's gunicorn (processes.web_service): the shipped configuration
(deploy/nginx/, rendered by deploy/proxy.py) on a free port and a run directory of its own."""

import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from deploy.proxy import proxy_command, proxy_config_write, upstream_max_conns

from .processes import HttpClient, _stop, free_port, wait_for

SHIPPED_GUNICORN = ("-c", "deploy/gunicorn.conf.py")
# The Procfile's sizes: the shipped configuration with its own workers and threads.
SHIPPED_WORKERS, SHIPPED_THREADS = 2, 4


@contextmanager
def nginx_proxy(upstream_port, *, max_conns=None):
    """nginx on a free port in front of 127.0.0.1:`upstream_port`; yields an HttpClient to it."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="ledger-proxy-") as run_dir:
        run_dir = Path(run_dir)
        proxy_config_write(
            run_dir,
            listen=f"127.0.0.1:{port}",
            upstream=f"127.0.0.1:{upstream_port}",
            max_body_bytes=settings.MAX_REQUEST_BODY_BYTES,
            batch_max_body_bytes=settings.BATCH_MAX_REQUEST_BODY_BYTES,
            max_conns=max_conns or upstream_max_conns(workers=SHIPPED_WORKERS, threads=SHIPPED_THREADS),
        )
        process = subprocess.Popen(proxy_command(run_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = HttpClient(port)
        try:
            wait_for(client.is_up, what="nginx and the web service behind it to answer")
            yield client
        finally:
            _stop(process)
