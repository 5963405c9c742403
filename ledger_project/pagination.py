from base64 import b64decode
from urllib.parse import parse_qs

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
            self._check_cursor_text(request.query_params.get(self.cursor_query_param))
            cursor = super().decode_cursor(request)
            # The position goes into the query as a value of the first ordering field: a forged
            # one ("p=abc" for an id) must be refused here, not fail in the database (a 500).
            if cursor is not None and cursor.position is not None:
                self.position_field.get_prep_value(self.position_field.to_python(cursor.position))
        except (NotFound, ValueError, TypeError, DjangoValidationError) as exc:
            raise InvalidInputError(errors={"cursor": ["Invalid cursor."]}) from exc
        return cursor

    @staticmethod
    def _check_cursor_text(encoded):
        """DRF decodes leniently: base64 skips characters outside its alphabet and unknown keys are
        ignored, so `?cursor=' OR 1=1--` would quietly mean "the first page". Ours are strict
        base64 of `o`, `r` and `p` only."""
        if encoded is None:
            return
        tokens = parse_qs(b64decode(encoded.encode("ascii"), validate=True).decode("ascii"), keep_blank_values=True)
        if not tokens or not set(tokens) <= {"o", "r", "p"}:
            raise ValueError("not a cursor this API issued")

    def get_paginated_response(self, data):
        return Response({self.items_key: data, "next": self.get_next_link()})

    def get_schema_operation_parameters(self, view):
        cursor, limit = super().get_schema_operation_parameters(view)
        cursor["description"] = "The `next` link's cursor; only cursors this API issued are accepted."
        limit["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size, "default": self.page_size}
        return [cursor, limit]

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": [self.items_key, "next"],
            "properties": {self.items_key: schema, "next": {"type": "string", "format": "uri", "nullable": True}},
        }
