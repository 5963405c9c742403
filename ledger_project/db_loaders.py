"""timestamptz values parsed by psycopg's compiled loader instead of Django's pure-Python one.

Django 5.2 gives every connection a timestamptz loader derived from psycopg's pure-Python loader
(to pin the values' tzinfo), because psycopg's compiled loader cannot be subclassed (Django
ticket #36960, psycopg issue #1273). A value then costs about 3 us to parse instead of 0.2 us: a
100-item batch loads some 400 of them (its locked accounts' timestamps), while those accounts are
locked. Django keeps the connection's time zone at UTC, where the compiled loader gives the same
values with the same tzinfo (`datetime.UTC`), so this loader hands each value to it.
"""

import datetime

import psycopg
from psycopg.pq import Format
from psycopg.types.datetime import TimestamptzLoader

TIMESTAMPTZ_OID = psycopg.adapters.types["timestamptz"].oid
# psycopg's own adapters map holds the compiled loader where psycopg's C extension is installed
# (psycopg[binary]); Django changes only the maps it copies from it.
COMPILED_LOADER = psycopg.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)


class UtcTimestamptzLoader(TimestamptzLoader):
    # What Django's create_cursor compares with the connection's time zone before it registers
    # its own loader on the cursor again.
    timezone = datetime.UTC

    def __init__(self, oid, context=None):
        super().__init__(oid, context)
        self.load = COMPILED_LOADER(oid, context).load


def use_compiled_timestamptz_loader(sender, connection, **kwargs) -> None:
    """connection_created's receiver: on a PostgreSQL connection in UTC, timestamptz values are
    parsed by the compiled loader. A pooled connection keeps it from its first lending on."""
    if connection.vendor != "postgresql" or connection.timezone != datetime.UTC:
        return
    adapters = connection.connection.adapters
    if adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT) is not UtcTimestamptzLoader:
        adapters.register_loader(TIMESTAMPTZ_OID, UtcTimestamptzLoader)
