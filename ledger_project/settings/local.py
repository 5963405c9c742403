"""Local development: `make run`. Everything from base.py; override through `.env`."""

from .base import *  # noqa: F403
