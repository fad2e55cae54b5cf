"""The pooled connections to Ollama: an idle one whose server hung up is never reused, telling so
costs no turn of an event loop, and an HTTPS backend's certificate is verified (gateway.upstream,
common.sockets)."""

import contextlib
import ipaddress
from datetime import UTC, datetime, timedelta

import httpcore._backends.sync
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from common.tls import tls_context
from gateway.backends.circuit import backend_state_clear
from gateway.models import Backend
from gateway.services import route_create
from tests.conftest import MODEL, UPSTREAM_MODEL
from tests.support.ollama_double import OllamaDouble
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def routed_to(double: OllamaDouble):
    """`double` started and behind the route, as a backend of its own (so this process's pool
    holds no connection to it yet)."""
    double.start()
    backend = Backend.objects.create(name="own", base_url=double.url)
    backend_state_clear(backend_id=backend.pk)
    route_create(name=MODEL, backend=backend, upstream_model=UPSTREAM_MODEL)
    try:
        yield double
    finally:
        backend_state_clear(backend_id=backend.pk)
        double.stop()


@pytest.fixture
def upstream(db):
    with routed_to(OllamaDouble(models=[UPSTREAM_MODEL])) as double:
        yield double


@pytest.fixture
def certificate(tmp_path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1: (certificate file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


def chat(api):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    return api.post("/api/v1/chat", body, format="json")


def test_a_connection_the_server_closed_while_idle_is_not_reused(api, upstream):
    upstream.idle_timeout = 0.2
    assert chat(api).status_code == 200
    assert upstream.connections == 1
    # the double hangs up the idle keep-alive connection, as a restart or an idle timeout would
    assert wait_for(lambda: upstream.closed_connections == 1, timeout=5)
    response = chat(api)
    assert response.status_code == 200, response.json()
    assert upstream.connections == 2


def test_an_idle_connection_is_checked_without_polling(api, upstream, monkeypatch):
    assert chat(api).status_code == 200

    def poll(sock):
        raise AssertionError("polled: under gevent, a turn of the event loop per idle connection")

    # httpcore's own check, which its stock network stream makes with select.poll
    monkeypatch.setattr(httpcore._backends.sync, "is_socket_readable", poll)
    for _ in range(3):
        assert chat(api).status_code == 200
    assert upstream.connections == 1  # the one connection, checked before each reuse


def test_a_request_goes_out_in_one_send_head_and_body_together(api, upstream, monkeypatch):
    sent = []
    write = httpcore._backends.sync.SyncStream.write

    def counted(stream, buffer, timeout=None):
        sent.append(buffer)
        return write(stream, buffer, timeout)

    monkeypatch.setattr(httpcore._backends.sync.SyncStream, "write", counted)
    for _ in range(2):
        assert chat(api).status_code == 200
    # httpcore writes a request's head, then its body: each send woke Ollama for half a request
    assert len(sent) == 2
    head, body = sent[0].split(b"\r\n\r\n", 1)
    assert head.startswith(b"POST /api/chat HTTP/1.1") and b'"messages"' in body
    assert upstream.requests[-1]["body"]["messages"] == [{"role": "user", "content": "hi"}]


def test_an_https_backend_is_reached_when_its_certificate_is_trusted(
    api, certificate, monkeypatch, request
):
    monkeypatch.setenv("SSL_CERT_FILE", certificate[0])  # the operator's CA bundle
    tls_context.cache_clear()  # read once per process, as the process starts
    request.addfinalizer(tls_context.cache_clear)
    with routed_to(OllamaDouble(models=[UPSTREAM_MODEL], tls=certificate)) as double:
        for _ in range(2):
            assert chat(api).status_code == 200
        assert double.url.startswith("https://") and double.connections == 1


def test_an_https_backend_with_an_untrusted_certificate_is_refused(api, certificate):
    # what a machine in the middle presenting its own certificate would look like
    with routed_to(OllamaDouble(models=[UPSTREAM_MODEL], tls=certificate)) as double:
        response = chat(api)
        assert response.status_code == 503, response.json()
        assert double.requests == []  # nothing of the call was sent
