"""Fuzzed bodies through every POST of the three doors: wrong types anywhere in a valid body, huge
strings, deep nesting, NUL and lone surrogates, invalid UTF-8, invalid JSON, bodies that are no
JSON object at all. None may be a 5xx; an error is the door's own error shape, never a traceback.

(The native API is also covered by schemathesis over its OpenAPI schema, tests/test_schema_fuzz.py;
these doors follow Ollama's and OpenAI's wire formats, which Corral's schema does not describe.)"""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from tests.conftest import MODEL

pytestmark = pytest.mark.django_db

MESSAGES = [{"role": "user", "content": "hello"}]
VALID = {
    "/ollama/api/chat": {"model": MODEL, "messages": MESSAGES, "stream": False},
    "/ollama/api/generate": {"model": MODEL, "prompt": "hello", "stream": False},
    "/ollama/api/embed": {"model": MODEL, "input": ["hello"]},
    "/ollama/api/show": {"model": MODEL},
    "/v1/chat/completions": {"model": MODEL, "messages": MESSAGES, "max_tokens": 5},
    "/v1/embeddings": {"model": MODEL, "input": "hello"},
    "/api/v1/chat": {"model": MODEL, "messages": MESSAGES},
}
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
# What a hostile or broken client puts where a value belongs.
nasty_values = (
    json_values
    | st.just("x" * 200_000)
    | st.text(alphabet=st.sampled_from(["\x00", "a", "\u202e", "\ufeff"]), min_size=1, max_size=10)
    | st.integers(min_value=1, max_value=200).map(
        lambda depth: json.loads("[" * depth + "]" * depth)
    )
)


def _paths(value, prefix=()):
    """Every place in a JSON value where another value could stand."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _replace(value, path, new):
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return copy


@st.composite
def mutated_bodies(draw, valid):
    """A valid body with one value replaced, one key added, or one required key dropped."""
    kind = draw(st.sampled_from(["replace", "add", "drop"]))
    if kind == "replace":
        path = draw(st.sampled_from(list(_paths(valid))))
        return json.dumps(_replace(valid, path, draw(nasty_values)))
    body = dict(valid)
    if kind == "add":
        body[draw(st.text(min_size=1, max_size=10))] = draw(nasty_values)
    else:
        body.pop(draw(st.sampled_from(sorted(body))))
    return json.dumps(body)


broken_bytes = st.one_of(
    st.binary(max_size=200),  # anything at all, mostly not UTF-8
    st.just(b'{"model": "\xff\xfe", "messages": []}'),  # invalid UTF-8 inside valid JSON syntax
    st.just(b'{"model": "m", "messages": [{"role": "user", "content": "a\\u0000b"}]}'),
    st.just(b'{"model": "m", "messages": [{"role": "user", "content": "\\udc00"}]}'),
    st.just(b"[" * 100_000 + b"]" * 100_000),
    st.sampled_from([b"", b"null", b"[]", b'"text"', b"42", b"{", b'{"model":', b"{}"]),
    st.text(max_size=50).map(lambda text: ("{" + text).encode()),  # truncated or garbled JSON
)


def _error_message(path: str, response) -> str:
    """The error's message, asserting the door's own error shape."""
    body = response.json()
    if path.startswith("/ollama/"):
        assert set(body) == {"error"} and isinstance(body["error"], str), body
        return body["error"]
    error = body["error"]
    if path.startswith("/v1/"):
        assert {"message", "type", "code"} <= set(error), body
    else:
        assert set(error) == {"code", "message"}, body
    return error["message"]


def _assert_handled(path: str, response, *, must_fail: bool) -> None:
    assert response.status_code < 500, (path, response.status_code, response.content[:500])
    if must_fail:
        assert 400 <= response.status_code < 500, (path, response.content[:500])
    if response.status_code >= 400:
        message = _error_message(path, response)
        assert message and "Traceback" not in message and 'File "' not in message


@pytest.fixture
def post(token, route, settings):
    # thousands of calls with 200 kB strings: their spans need not carry the text
    settings.CORRAL_CAPTURE_MESSAGE_CONTENT = False
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    def send(path: str, body: bytes | str):
        return client.generic("POST", path, body, content_type="application/json")

    return send


@pytest.mark.parametrize("path", list(VALID))
def test_the_valid_body_is_accepted(post, path):
    response = post(path, json.dumps(VALID[path]))
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("path", list(VALID))
def test_mutated_bodies_are_handled(post, path):
    @FUZZ
    @given(body=mutated_bodies(VALID[path]))
    def check(body):
        _assert_handled(path, post(path, body), must_fail=False)

    check()


@pytest.mark.parametrize("path", list(VALID))
def test_broken_bodies_are_refused_with_a_4xx(post, path):
    @FUZZ
    @given(body=broken_bytes)
    def check(body):
        _assert_handled(path, post(path, body), must_fail=True)

    check()


@pytest.mark.parametrize("path", list(VALID))
@pytest.mark.parametrize(
    "value",
    [
        pytest.param(json.loads("[" * 40 + "]" * 40), id="deep"),
        pytest.param("a\x00b", id="nul"),
        pytest.param(12, id="number"),
        pytest.param({"nested": True}, id="object"),
    ],
)
def test_wrong_model_values_are_refused(post, path, value):
    response = post(path, json.dumps({**VALID[path], "model": value}))
    _assert_handled(path, response, must_fail=True)
