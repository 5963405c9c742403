"""Local development: `make run`. Everything from base.py; override through `.env`."""

from .base import *  # noqa: F403
from .base import env

# Endpoints on this machine (a receiver on 127.0.0.1, plain http) may be called here.
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=True)
