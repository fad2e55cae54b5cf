"""Request serializers build their fields once per class (DRF would deep-copy them for every body)
and keep nothing of a body once it is read."""

from gateway.api.native.serializers import ChatInputSerializer
from gateway.api.openai.serializers import ChatCompletionSerializer

BODY = {"model": "m", "messages": [{"role": "user", "content": "the secret 4242"}]}


def test_fields_are_built_once_per_class():
    first, second = ChatCompletionSerializer(data=BODY), ChatCompletionSerializer(data=BODY)
    assert first.fields is second.fields
    nested = first.fields["messages"].child.fields
    assert nested is ChatCompletionSerializer(data=BODY).fields["messages"].child.fields
    assert ChatInputSerializer().fields is not first.fields  # one set per class


def test_two_bodies_read_with_the_same_fields_do_not_mix():
    one = ChatCompletionSerializer(data=BODY)
    other = ChatCompletionSerializer(
        data={"model": "n", "messages": [{"role": "system", "content": "other"}]}
    )
    assert one.is_valid() and other.is_valid()
    assert one.validated_data["request"].messages[0]["content"] == "the secret 4242"
    assert other.validated_data["request"].messages == [{"role": "system", "content": "other"}]
    assert one.validated_data["request"].model == "m"


def test_nothing_of_a_body_stays_with_the_class():
    serializer = ChatInputSerializer(data=BODY)
    assert serializer.is_valid(), serializer.errors
    template = ChatInputSerializer._fields_once.serializer  # what the shared fields are bound to
    assert template is not serializer and not hasattr(template, "initial_data")
