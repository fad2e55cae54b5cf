"""Where completion callbacks may go, and that they go only where the check approved."""

import ipaddress
import socket

import pytest

from common.errors import InvalidRequest
from gateway import callbacks
from tests.support.webhook_receiver import WebhookReceiver


@pytest.fixture
def receiver():
    started = WebhookReceiver().start()
    yield started
    started.stop()


@pytest.fixture
def rebinding_dns(monkeypatch, receiver):
    """hooks.example.com resolves first to the receiver (taken as public here), then to an
    internal address, as a DNS-rebinding attacker's name would."""
    answers = ["127.0.0.1", "10.1.2.3"]
    asked = []
    port = int(receiver.url.split(":")[2].split("/")[0])

    def getaddrinfo(host, *args, **kwargs):
        if host != "hooks.example.com":
            return real(host, *args, **kwargs)
        asked.append(host)
        address = answers[min(len(asked), len(answers)) - 1]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(callbacks, "_internal", lambda ip: ip != ipaddress.ip_address("127.0.0.1"))
    return f"http://hooks.example.com:{port}/hooks/corral", asked


def test_the_callback_goes_to_the_address_that_was_checked(settings, receiver, rebinding_dns):
    settings.CORRAL_CALLBACK_ALLOW_PRIVATE = False
    url, asked = rebinding_dns
    status = callbacks.callback_send(url=url, secret="s", payload={"a": 1}, completion_id="c1")
    assert status == 200 and asked == ["hooks.example.com"]  # resolved once, for the check
    delivered = receiver.received[0]
    assert delivered.headers["host"] == url.split("/")[2]  # the receiver still sees its name
    assert delivered.headers["x-corral-signature"].startswith("sha256=")
    # had it resolved again, the name would now point inside
    with pytest.raises(InvalidRequest, match="internal address"):
        callbacks.callback_url_check(url)
