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
PIXEL = "iVBORw0KGgo="
# The OpenAI shapes a tool loop and a vision call send: every nested place a value can stand.
OPENAI_TOOL_LOOP = {
    "model": MODEL,
    "stream": True,
    "stream_options": {"include_usage": True},
    "messages": [
        {"role": "developer", "content": "be brief"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is here?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "look", "arguments": '{"where": "here"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {"name": "look", "parameters": {"type": "object", "properties": {}}},
        }
    ],
    "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}},
    "stop": ["\n\n"],
}
# name: (path, a valid body)
VALID = {
    "/ollama/api/chat": (
        "/ollama/api/chat",
        {"model": MODEL, "messages": MESSAGES, "stream": False},
    ),
    "/ollama/api/generate": (
        "/ollama/api/generate",
        {"model": MODEL, "prompt": "hello", "stream": False, "images": [PIXEL]},
    ),
    "/ollama/api/embed": ("/ollama/api/embed", {"model": MODEL, "input": ["hello"]}),
    "/ollama/api/show": ("/ollama/api/show", {"model": MODEL}),
    "/v1/chat/completions": (
        "/v1/chat/completions",
        {"model": MODEL, "messages": MESSAGES, "max_tokens": 5},
    ),
    "/v1/chat/completions (tool loop)": ("/v1/chat/completions", OPENAI_TOOL_LOOP),
    "/v1/embeddings": ("/v1/embeddings", {"model": MODEL, "input": "hello"}),
    "/v1/completions": ("/v1/completions", {"model": MODEL, "prompt": "hello", "max_tokens": 5}),
    "/v1/responses": (
        "/v1/responses",
        {
            "model": MODEL,
            "instructions": "be brief",
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"a": 1}'},
                {"type": "function_call_output", "call_id": "c1", "output": "done"},
            ],
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
            "text": {"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}}},
            "reasoning": {"effort": "low"},
            "max_output_tokens": 20,
        },
    ),
    "/ollama/api/embeddings": ("/ollama/api/embeddings", {"model": MODEL, "prompt": "hello"}),
    "/api/v1/chat": ("/api/v1/chat", {"model": MODEL, "messages": MESSAGES}),
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
        response = client.generic("POST", path, body, content_type="application/json")
        if response.streaming:
            # Read to the end, as a server would (the test client then closes it): a stream left
            # open is finished by the garbage collector later, in whatever thread it runs (once,
            # the span exporter's, which then waited on the test's database lock).
            b"".join(response.streaming_content)
        return response

    return send


@pytest.mark.parametrize("case", list(VALID))
def test_the_valid_body_is_accepted(post, case):
    path, body = VALID[case]
    response = post(path, json.dumps(body))
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("case", list(VALID))
def test_mutated_bodies_are_handled(post, case):
    path, valid = VALID[case]

    @FUZZ
    @given(body=mutated_bodies(valid))
    def check(body):
        _assert_handled(path, post(path, body), must_fail=False)

    check()


@pytest.mark.parametrize("case", list(VALID))
def test_broken_bodies_are_refused_with_a_4xx(post, case):
    path, _ = VALID[case]

    @FUZZ
    @given(body=broken_bytes)
    def check(body):
        _assert_handled(path, post(path, body), must_fail=True)

    check()


# What was seen answering 500 on /v1 (issue 17, point 11), and what asked for unbounded work.
OPENAI_MALFORMED = {
    "stream_options a list": {"stream_options": [1]},
    "image_url a string": {
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}]
    },
    "tool_calls of strings": {"messages": [{"role": "assistant", "tool_calls": ["x"]}]},
    "function a list": {"messages": [{"role": "assistant", "tool_calls": [{"function": [1]}]}]},
    "tool_call_id an object": {"messages": [{"role": "tool", "content": "r", "tool_call_id": {}}]},
    "arguments nested 50,000 deep": {
        "messages": [
            {
                "role": "assistant",
                "tool_calls": [
                    {"function": {"name": "f", "arguments": '{"a":' * 50_000 + "1" + "}" * 50_000}}
                ],
            }
        ]
    },
    "50,000 messages": {"messages": MESSAGES * 50_000},
    "200 tools": {"tools": OPENAI_TOOL_LOOP["tools"] * 200},
}


@pytest.mark.parametrize("case", list(OPENAI_MALFORMED))
def test_malformed_openai_bodies_are_a_400(post, case):
    body = {**OPENAI_TOOL_LOOP, "stream": False, **OPENAI_MALFORMED[case]}
    response = post("/v1/chat/completions", json.dumps(body))
    assert response.status_code == 400, response.content[:300]
    _assert_handled("/v1/chat/completions", response, must_fail=True)


@pytest.mark.parametrize("path", ["/v1/embeddings", "/ollama/api/embed"])
def test_embedding_inputs_are_bounded(post, path):
    response = post(path, json.dumps({"model": MODEL, "input": ["a"] * 100_000}))
    assert response.status_code == 400 and "at most 2048" in response.content.decode()


@pytest.mark.parametrize("case", list(VALID))
def test_a_body_over_the_limit_is_a_413(post, settings, case):
    path, valid = VALID[case]
    settings.CORRAL_MAX_REQUEST_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = post(path, json.dumps({**valid, "padding": "x" * 20_000}))
    assert response.status_code == 413, response.content[:300]
    assert "larger than the limit" in _error_message(path, response)


@pytest.mark.parametrize("case", list(VALID))
@pytest.mark.parametrize(
    "value",
    [
        pytest.param(json.loads("[" * 40 + "]" * 40), id="deep"),
        pytest.param("a\x00b", id="nul"),
        pytest.param(12, id="number"),
        pytest.param({"nested": True}, id="object"),
    ],
)
def test_wrong_model_values_are_refused(post, case, value):
    path, valid = VALID[case]
    response = post(path, json.dumps({**valid, "model": value}))
    _assert_handled(path, response, must_fail=True)
