"""JSON-typed serializer fields: DRF's own accept "5" for 5 and 1 for true, a gateway should not."""

import base64
import binascii

from rest_framework import serializers


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)

    default_error_messages = {"invalid": "must be a string."}


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "must be true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": "must be an integer."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    default_error_messages = {"invalid": "must be a number."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class Base64Field(StrictCharField):
    """Bytes sent as standard base64 (images): checked here, so nothing else is ever read as one
    (Ollama's client would read a string that names a file as that file)."""

    default_error_messages = {"invalid": "must be a string.", "base64": "must be base64 data."}

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            self.fail("base64")
        return value


class StrictDictField(serializers.DictField):
    default_error_messages = {"not_a_dict": "must be an object."}
