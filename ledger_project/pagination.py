from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from .exceptions import InvalidInputError

MAX_PAGE_SIZE = 200


class KeysetPagination(CursorPagination):
    """DRF's cursor pagination (keyset: `WHERE key < cursor ORDER BY key DESC LIMIT n`, never an
    OFFSET over the table), answering `{<items_key>: [...], next: <url or null>}`.

    `?limit=` must be 1..200 and `?cursor=` one we issued: anything else is a 400, not a silent
    default."""

    page_size = 50
    page_size_query_param = "limit"
    max_page_size = MAX_PAGE_SIZE
    items_key = "results"

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise InvalidInputError(errors={"limit": [f"Enter a whole number from 1 to {self.max_page_size}."]})
        return int(raw)

    def paginate_queryset(self, queryset, request, view=None):
        self.position_field = queryset.model._meta.get_field(self.ordering[0].lstrip("-"))
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
            # The position goes into the query as a value of the first ordering field: a forged
            # one ("p=abc" for an id) must be refused here, not fail in the database (a 500).
            if cursor is not None and cursor.position is not None:
                self.position_field.get_prep_value(self.position_field.to_python(cursor.position))
        except (NotFound, ValueError, TypeError, DjangoValidationError) as exc:
            raise InvalidInputError(errors={"cursor": ["Invalid cursor."]}) from exc
        return cursor

    def get_paginated_response(self, data):
        return Response({self.items_key: data, "next": self.get_next_link()})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": [self.items_key, "next"],
            "properties": {self.items_key: schema, "next": {"type": "string", "format": "uri", "nullable": True}},
        }
