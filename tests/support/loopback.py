import sys
from http.server import ThreadingHTTPServer


class LoopbackServer(ThreadingHTTPServer):
    """A threaded HTTP server for the test doubles."""

    daemon_threads = True
    request_queue_size = 1024  # socketserver's default backlog of 5 drops connections under load

    def handle_error(self, request, client_address):
        # A client closing a kept-alive connection is normal, not an error worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)
