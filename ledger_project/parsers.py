import codecs
import json

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class JsonNumber(str):
    """The literal text of a JSON number with a fraction or exponent, as the client wrote it."""


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


class ExactJSONParser(JSONParser):
    """DRF's JSON parser, except that non-integer numbers are never turned into floats.

    Money must not pass through binary floating point: `0.30000000000000004` or
    `12345678901234567.89` would silently change. Fractional numbers arrive as JsonNumber
    strings and the field that reads them (accounts.money.parse_amount) validates the text.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            decoded = codecs.getreader(encoding)(stream)
            return json.load(decoded, parse_float=JsonNumber, parse_constant=_reject_constant)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        except RecursionError as exc:
            # `[[[[...]]]]` nested a few thousand deep (it fits in the body limit) exhausts the
            # decoder's recursion: a malformed body, not a server error.
            raise ParseError("JSON parse error - nested too deeply") from exc
