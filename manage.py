#!/usr/bin/env python
import os
import sys


def main():
    # Production unless told otherwise: it refuses the development keys instead of signing with them.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ledger_project.settings.production")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
