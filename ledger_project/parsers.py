import codecs
import json

from django.utils.http import parse_header_parameters
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.parsers import JSONParser

UTF8_ONLY_MESSAGE = "Send the JSON body as UTF-8 (charset=utf-8, or no charset)."


class JsonNumber(str):
    """The literal text of a JSON number with a fraction or exponent, as the client wrote it."""


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def is_utf8(charset: str) -> bool:
    """`utf-8`, `UTF8`, `utf_8`...: any spelling Python resolves to the UTF-8 codec."""
    try:
        return codecs.lookup(charset).name == "utf-8"
    except LookupError:
        return False


class ExactJSONParser(JSONParser):
    """DRF's JSON parser, except that non-integer numbers are never turned into floats, and the
    body is read as UTF-8 only.

    Money must not pass through binary floating point: `0.30000000000000004` or
    `12345678901234567.89` would silently change. Fractional numbers arrive as JsonNumber
    strings and the field that reads them (accounts.money.parse_amount) validates the text.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        # DRF would decode with whatever codec the charset names: `bz2` or `zlib` inflate a
        # small body to megabytes past the size limit, `rot13` fails inside the decoder (a 500).
        # RFC 8259 says JSON is UTF-8.
        charset = parse_header_parameters(media_type or "")[1].get("charset")
        if charset is not None and not is_utf8(charset):
            raise UnsupportedMediaType(media_type, detail=UTF8_ONLY_MESSAGE)
        try:
            decoded = codecs.getreader("utf-8")(stream)
            return json.load(decoded, parse_float=JsonNumber, parse_constant=_reject_constant)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        except RecursionError as exc:
            # `[[[[...]]]]` nested a few thousand deep (it fits in the body limit) exhausts the
            # decoder's recursion: a malformed body, not a server error.
            raise ParseError("JSON parse error - nested too deeply") from exc
