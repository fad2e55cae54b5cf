"""The fault matrix, Ollama's rows: Ollama down, slow, failing before its answer or in the middle of
a stream, and a caller hanging up mid-stream. Each checks what the fault matrix checks
(tests/faults/__init__.py)."""

import pytest

from audit.models import AuditRecord
from tests.faults.stack import DOORS, STATUS, assert_failed, clear_ollama

pytestmark = pytest.mark.django_db(transaction=True)


OLLAMA_FAULTS = {
    # fault: (set it up, the contract code the caller sees, whether the caller streams)
    "down": (lambda s: s.relays["ollama"].down(), "upstream_unavailable", False),
    "slow": (lambda s: setattr(s.ollama, "first_token_delay", 1.5), "upstream_timeout", False),
    "500": (lambda s: s.ollama.fail_next(500, "model runner crashed"), "upstream_error", False),
    "503 busy": (lambda s: s.ollama.fail_next(503, "server busy"), "upstream_unavailable", False),
}


@pytest.mark.parametrize("fault", list(OLLAMA_FAULTS))
def test_ollama_fault_before_the_answer(stack, fault):
    make, code, _ = OLLAMA_FAULTS[fault]
    for door in DOORS:
        make(stack)
        response = stack.call(door)
        assert response.status_code == STATUS[code][door.name], response.text
        message = door.error_of(response)
        assert message and "Traceback" not in message
        if fault == "503 busy":
            assert response.headers.get("Retry-After") == "1"
        assert_failed(stack, door, code)
        clear_ollama(stack)
        stack.works(door)


@pytest.mark.parametrize("fault", ["stream cut", "malformed line"])
def test_ollama_fault_in_the_middle_of_a_stream(stack, fault):
    for door in DOORS:
        stack.ollama.reply = "one two three four"
        if fault == "stream cut":
            stack.ollama.cut_after = 2
        else:
            stack.ollama.malformed_after = 2
        response = stack.call(door, stream=True)
        assert response.status_code == 200  # the stream had begun: the error comes in-band
        message = door.stream_error_of(response.text)
        assert message and "Traceback" not in message
        assert "one " in response.text  # what came before the fault reached the caller
        assert_failed(stack, door, "upstream_error", partial="one two ")
        clear_ollama(stack)
        stack.works(door)


def test_client_disconnecting_mid_stream(stack):
    for door in DOORS:
        stack.ollama.reply = " ".join(["word"] * 100)
        stack.ollama.hold_after = 2
        with stack.stream(door) as response:
            assert response.status_code == 200
            next(response.iter_lines())
        stack.ollama.release.set()  # Corral notices the client is gone on its next write
        record = stack.last_record(door)
        assert record.status == AuditRecord.Status.CLIENT_DISCONNECTED
        assert stack.span_of(record).attributes["error.type"] == "client_disconnected"
        clear_ollama(stack)
        stack.works(door)
