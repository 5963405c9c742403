"""nginx in front of gunicorn, unprivileged: the Procfile's `proxy` line.

    .venv/bin/python deploy/proxy.py      # PROXY_BIND (127.0.0.1:8000) -> WEB_BIND (127.0.0.1:8001)

Renders deploy/nginx/ledger.conf.template into a run directory (PROXY_RUN_DIR, by default one
per machine user under the system's temporary directory) beside deploy/nginx/nginx.conf, then
runs nginx in the foreground with that directory as its prefix: the pid file, temporary files and
configuration live there, nothing under /var. The fault tests (tests/faults/proxy.py) render the
same files with ports of their own.
"""

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

NGINX_DIR = Path(__file__).resolve().parent / "nginx"
PLACEHOLDER = re.compile(r"\$\{(LEDGER_[A-Z_]+)\}")


def nginx_binary() -> str:
    # Debian installs it in /usr/sbin, which is not on an ordinary user's PATH.
    return shutil.which("nginx") or "/usr/sbin/nginx"


def upstream_max_conns(*, workers: int, threads: int) -> int:
    """Requests let through to gunicorn at once: every thread busy and two more waiting per
    thread; past that nginx sheds with a 503 (deploy/nginx/ledger.conf.template)."""
    return workers * threads * 3


def proxy_config_write(
    run_dir: Path, *, listen: str, upstream: str, max_body_bytes: int, batch_max_body_bytes: int, max_conns: int
) -> Path:
    """Render the configuration into `run_dir`; returns the path of its nginx.conf."""
    values = {
        "LEDGER_PROXY_LISTEN": listen,
        "LEDGER_UPSTREAM": upstream,
        "LEDGER_MAX_BODY_BYTES": str(max_body_bytes),
        "LEDGER_BATCH_MAX_BODY_BYTES": str(batch_max_body_bytes),
        "LEDGER_UPSTREAM_MAX_CONNS": str(max_conns),
    }
    template = (NGINX_DIR / "ledger.conf.template").read_text()
    (run_dir / "tmp").mkdir(parents=True, exist_ok=True)
    # Started by root, nginx's workers run as nobody and must reach the temporary directories.
    run_dir.chmod(0o755)
    (run_dir / "ledger.conf").write_text(PLACEHOLDER.sub(lambda match: values[match.group(1)], template))
    shutil.copyfile(NGINX_DIR / "nginx.conf", run_dir / "nginx.conf")
    return run_dir / "nginx.conf"


def proxy_command(run_dir: Path) -> list[str]:
    """nginx in the foreground on a rendered run directory; `-e stderr` keeps it from opening the
    packaged /var/log error log before it has read its configuration."""
    return [nginx_binary(), "-p", f"{run_dir}/", "-c", str(run_dir / "nginx.conf"), "-e", "stderr", "-g", "daemon off;"]


def main():
    env = os.environ
    run_dir = Path(env.get("PROXY_RUN_DIR") or Path(tempfile.gettempdir()) / f"ledger-proxy-{os.getuid()}")
    proxy_config_write(
        run_dir,
        listen=env.get("PROXY_BIND", "127.0.0.1:8000"),
        upstream=env.get("WEB_BIND", "127.0.0.1:8001"),
        max_body_bytes=int(env.get("MAX_REQUEST_BODY_BYTES", "65536")),
        batch_max_body_bytes=int(env.get("BATCH_MAX_REQUEST_BODY_BYTES", "204800")),
        max_conns=upstream_max_conns(
            workers=int(env.get("WEB_WORKERS", "2")), threads=int(env.get("WEB_THREADS", "4"))
        ),
    )
    command = proxy_command(run_dir)
    sys.stdout.flush()
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
