"""One TLS context per process for Corral's HTTP clients: the upstreams, their health checks and
the completions' callbacks.

httpx loads the CA bundle for every client it makes, ~25 ms of CPU here: a health check made a
client per backend every 15 s, each callback one per completion, and an upstream client two (its
transport's and its pool's). The trusted CAs come from the environment (`SSL_CERT_FILE`,
`SSL_CERT_DIR`, else certifi's bundle) and are read once, as settings are."""

import ssl
from functools import lru_cache

import httpx


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()
