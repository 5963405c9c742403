"""Input fields that take JSON strings only.

DRF's CharField also takes a number and stores its text (`{"name": 42}` becomes "42"), and a
fractional number reaches it as the parser's JsonNumber, itself a str. A client that sends the
wrong type gets a 400, as the schema promises.
"""

from rest_framework import serializers

from .parsers import JsonNumber


class StringOnlyMixin:
    def to_internal_value(self, data):
        if not isinstance(data, str) or isinstance(data, JsonNumber):
            self.fail("invalid")
        return super().to_internal_value(data)


class CharField(StringOnlyMixin, serializers.CharField):
    pass
