from django.core import signing
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

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

    def encode_cursor(self, cursor):
        return replace_query_param(self.base_url, self.cursor_query_param, self.cursor_sign(cursor))

    def cursor_sign(self, cursor: Cursor) -> str:
        """The `?cursor=` value for a position. DRF's own is plain base64 of `o=..&r=..&p=..`,
        which a client can forge: a position PostgreSQL refuses (`2024-01-01 00:00:00+16:00`)
        was a 500. Signed (with SECRET_KEY), only positions this API wrote come back."""
        return self._signer().sign_object([cursor.offset, cursor.reverse, cursor.position])

    def decode_cursor(self, request):
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            offset, reverse, position = self._signer().unsign_object(encoded)
        except signing.BadSignature as exc:
            raise InvalidInputError(errors={"cursor": ["Invalid cursor."]}) from exc
        return Cursor(offset=offset, reverse=reverse, position=position)

    def _signer(self) -> signing.Signer:
        # One salt per list and ordering: a statement's cursor (an entry id) means nothing to
        # the transaction list (a timestamp), so it must not be read there. No timestamp: the
        # same page always links to the same next page.
        return signing.Signer(salt=f"ledger_project.pagination:{self.items_key}:{','.join(self.ordering)}")

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
