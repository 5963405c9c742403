"""Rows of hand-written SQL as model instances, for the few queries on the hot path."""

from functools import cache

from django.db import connection


def model_rows(model, sql: str, params) -> list:
    """The rows of `sql` as instances of `model`, as if loaded by the ORM; the SQL selects every
    column of the model's table (`table.*`), and each further column (a join's, an EXISTS) is set
    as an attribute of that name.

    What Model.objects.raw() does, without resolving the columns against the model's fields again
    for every query: that cost the transfer's three plain-SQL queries more Python time than the
    database driver did (README, "Benchmarks")."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = tuple(column.name for column in cursor.description)
        rows = cursor.fetchall()
    positions, converters, extras = _layout(model, names)
    instances = []
    for row in rows:
        values = [row[position] for position in positions]
        for index, field in converters:
            values[index] = field.from_db_value(values[index], None, connection)
        instance = model.from_db(connection.alias, None, values)
        for name, position in extras:
            setattr(instance, name, row[position])
        instances.append(instance)
    return instances


@cache
def _layout(model, names: tuple[str, ...]):
    """Where each field's value is in a row with these columns, which fields convert their value
    (JSON, say), and the columns that are no field."""
    fields = model._meta.concrete_fields
    position = {name: index for index, name in enumerate(names)}
    columns = {field.column for field in fields}
    return (
        [position[field.column] for field in fields],
        [(index, field) for index, field in enumerate(fields) if hasattr(field, "from_db_value")],
        [(name, index) for index, name in enumerate(names) if name not in columns],
    )
