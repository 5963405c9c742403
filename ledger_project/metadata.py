"""Metadata: the client's own string labels on accounts, transactions and holds (API.md,
"Metadata and statements"). One validator, one serializer field and one filter parser, reused
by every route that takes or filters on it. Metadata never touches money: it is stored beside
the row (a JSONB column with a partial GIN index) and read back as it was written."""

import hashlib
import json
import re

from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q, Value
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .exceptions import InvalidInputError
from .parsers import JsonNumber

MAX_KEYS = 20
MAX_VALUE_LENGTH = 500
MAX_FILTER_KEYS = 3
KEY_PATTERN = re.compile(r"\A[A-Za-z0-9_.-]{1,40}\Z")
# `?metadata[key]=value`; the key is held to KEY_PATTERN after this match.
FILTER_PARAM = re.compile(r"\Ametadata\[(.*)\]\Z", re.DOTALL)

OBJECT_MESSAGE = f"Send an object of at most {MAX_KEYS} string keys to string values."
KEY_MESSAGE = "Keys are 1 to 40 of A-Z a-z 0-9 _ . -"
VALUE_MESSAGE = f"Values are strings of at most {MAX_VALUE_LENGTH} characters, without control characters."
# Control characters (NUL cannot even be stored in JSONB) and lone surrogates (not text: PostgreSQL
# refuses them) are refused rather than turned into a database error.
BAD_CHARACTERS = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def metadata_errors(value) -> dict[str, list[str]]:
    """What is wrong with `value` as metadata, by field (`metadata`, `metadata.<key>`); empty if
    nothing is."""
    if not isinstance(value, dict) or len(value) > MAX_KEYS:
        return {"metadata": [OBJECT_MESSAGE]}
    errors = {}
    for key, item in value.items():
        if not KEY_PATTERN.match(key):
            errors["metadata"] = [KEY_MESSAGE]
        # The parser reads fractional numbers as JsonNumber, a str: it is still a number.
        elif (
            not isinstance(item, str)
            or isinstance(item, JsonNumber)
            or len(item) > MAX_VALUE_LENGTH
            or BAD_CHARACTERS.search(item)
        ):
            errors[f"metadata.{key}"] = [VALUE_MESSAGE]
    return errors


@extend_schema_field(
    {
        "type": "object",
        "maxProperties": MAX_KEYS,
        "additionalProperties": {"type": "string", "maxLength": MAX_VALUE_LENGTH},
        # OpenAPI 3.0 has no propertyNames: the key rule is in words.
        "description": "Your own labels: keys of 1 to 40 of A-Z a-z 0-9 _ . - to strings; money never depends on them.",
    }
)
class MetadataField(serializers.Field):
    """Metadata in a request body (default {}). Its errors are reported per key as
    `metadata.<key>` by MetadataErrorsMixin on the serializer."""

    default_empty_html = serializers.empty

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        if not kwargs["required"]:
            kwargs.setdefault("default", dict)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        errors = metadata_errors(data)
        if errors:
            raise serializers.ValidationError(errors)
        return {key: str(item) for key, item in data.items()}

    def to_representation(self, value):
        return value


class MetadataErrorsMixin:
    """A serializer with a MetadataField: its errors as `metadata` / `metadata.<key>` at the top
    level of `errors`, not nested under `metadata`."""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            detail = exc.detail
            if isinstance(detail, dict) and isinstance(detail.get("metadata"), dict):
                detail = {**{k: v for k, v in detail.items() if k != "metadata"}, **detail["metadata"]}
            raise serializers.ValidationError(detail) from exc


def metadata_filters(query_params) -> dict[str, str]:
    """`?metadata[key]=value` parameters (exact, ANDed, at most 3) as a dict for
    `metadata__contains`; a bad key or too many is a 400."""
    filters = {}
    for name in query_params:
        match = FILTER_PARAM.match(name)
        if match is None:
            continue
        key, values = match.group(1), query_params.getlist(name)
        if not KEY_PATTERN.match(key) or len(values) != 1 or len(values[0]) > MAX_VALUE_LENGTH:
            raise InvalidInputError(errors={name: [f"{KEY_MESSAGE}, once each, with a value of at most 500."]})
        filters[key] = values[0]
    if len(filters) > MAX_FILTER_KEYS:
        raise InvalidInputError(errors={"metadata": [f"Filter on at most {MAX_FILTER_KEYS} metadata keys."]})
    return filters


def metadata_fingerprint(metadata: dict | None) -> tuple[str, ...]:
    """The parts metadata adds to an idempotency fingerprint: none without metadata (so keys
    claimed before metadata existed, and the bench's SQL, keep their fingerprints), else an
    order-free digest. The same key with other metadata is then `idempotency_key_reused`."""
    if not metadata:
        return ()
    text = json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return ("metadata=" + hashlib.sha256(text.encode()).hexdigest()[:32],)


def metadata_field():
    """The `metadata` column: JSONB, {} by default in Django and in the database (so raw SQL
    writers such as the bench's bulk seed need not name it)."""
    return models.JSONField(default=dict, blank=True, db_default=Value({}, output_field=models.JSONField()))


def metadata_index(table: str) -> GinIndex:
    """A GIN index (jsonb_path_ops: containment only, smaller) over the rows that have metadata.
    Partial, so a row written without metadata (the common transfer) costs the index nothing;
    the filter repeats the condition so that the planner may use it (`metadata_filter_q`)."""
    return GinIndex(
        fields=["metadata"],
        opclasses=["jsonb_path_ops"],
        condition=~Q(metadata={}),
        name=f"{table}_metadata_idx",
    )


def metadata_filter_q(filters: dict) -> Q:
    """Rows whose metadata contains every `filters` pair, in the shape the partial index covers."""
    return Q(metadata__contains=filters) & ~Q(metadata={})
