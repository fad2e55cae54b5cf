"""An OTLP/HTTP trace receiver: a real HTTP server that decodes the protobuf the exporter sends."""

import gzip
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.support.loopback import LoopbackServer


def _value(value: AnyValue):
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


@dataclass
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict
    status_code: int
    status_message: str
    events: list[dict]
    resource: dict


@dataclass
class ReceivedPoint:
    """One histogram or sum data point of an exported metric."""

    metric: str
    unit: str
    attributes: dict
    temporality: int  # 1 delta, 2 cumulative (AggregationTemporality)
    count: int
    sum: float


class OtlpReceiver:
    def __init__(self, port: int = 0, on_span=None, keep: bool = True) -> None:
        self.on_span = on_span
        self.keep = keep  # False: only count what arrives (long benchmarks)
        self.span_count = 0
        self.spans: list[ReceivedSpan] = []
        self.points: list[ReceivedPoint] = []
        self.requests = 0
        # (span names, request headers) per accepted trace export
        self.deliveries: list[tuple[list[str], dict]] = []
        self.status = 200  # what to answer; tests of failed exports change it
        self.retry_after: str | None = None
        self.hang = 0.0  # hold each request this long, then answer 503 without taking it
        self._lock = threading.Lock()
        self._server = LoopbackServer(("127.0.0.1", port), _Handler)
        self._server.receiver = self

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "OtlpReceiver":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _accept(self, body: bytes, headers: dict) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        received = []
        for resource_spans in request.resource_spans:
            resource = {kv.key: _value(kv.value) for kv in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            kind=span.kind,
                            attributes={kv.key: _value(kv.value) for kv in span.attributes},
                            status_code=span.status.code,
                            status_message=span.status.message,
                            events=[
                                {
                                    "name": event.name,
                                    "attributes": {
                                        kv.key: _value(kv.value) for kv in event.attributes
                                    },
                                }
                                for event in span.events
                            ],
                            resource=resource,
                        )
                    )
        with self._lock:
            self.span_count += len(received)
            if self.keep:
                self.spans.extend(received)
                self.deliveries.append(([span.name for span in received], headers))
        if self.on_span is not None:
            for span in received:
                self.on_span(span)

    def _accept_metrics(self, body: bytes) -> None:
        request = ExportMetricsServiceRequest()
        request.ParseFromString(body)
        received = []
        for resource_metrics in request.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    kind = metric.WhichOneof("data")
                    data = getattr(metric, kind)
                    for point in data.data_points:
                        is_histogram = kind == "histogram"
                        value = 0.0
                        if not is_histogram:
                            value = getattr(point, point.WhichOneof("value") or "as_int")
                        received.append(
                            ReceivedPoint(
                                metric=metric.name,
                                unit=metric.unit,
                                attributes={kv.key: _value(kv.value) for kv in point.attributes},
                                temporality=getattr(data, "aggregation_temporality", 0),
                                count=point.count if is_histogram else 1,
                                sum=point.sum if is_histogram else value,
                            )
                        )
        if self.keep:
            with self._lock:
                self.points.extend(received)

    def headers_for(self, span_name: str) -> dict:
        """The headers (lower-cased names) of the export that delivered this span."""
        with self._lock:
            for names, headers in self.deliveries:
                if span_name in names:
                    return {key.lower(): value for key, value in headers.items()}
        raise AssertionError(f"no export delivered {span_name}")

    def find_points(self, metric: str, timeout: float = 10.0) -> list[ReceivedPoint]:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [point for point in self.points if point.metric == metric]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def delivered_twice(self, since: int = 0, service: str = "corral-e2e") -> list[str]:
        """Span ids a service delivered more than once, among the spans received after `since`
        (the test process's own exporter may resend a batch the receiver was slow to take)."""
        with self._lock:
            ids = [
                span.span_id
                for span in self.spans[since:]
                if span.resource.get("service.name") == service
            ]
        return sorted({span_id for span_id in ids if ids.count(span_id) > 1})

    def find(self, predicate, timeout: float = 10.0) -> list[ReceivedSpan]:
        """Spans matching the predicate, waiting until at least one has arrived."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [span for span in self.spans if predicate(span)]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def span_for_audit(self, audit_id: str, timeout: float = 10.0) -> ReceivedSpan:
        found = self.find(lambda s: s.attributes.get("corral.audit_id") == audit_id, timeout)
        assert len(found) == 1, f"expected one span for audit record {audit_id}, got {len(found)}"
        return found[0]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Go's net/http (Ollama, the collector) sets TCP_NODELAY; without it a small response waits
    # out the peer's delayed ACK (~40 ms) between headers and body.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        receiver: OtlpReceiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        receiver.requests += 1
        if receiver.hang:
            time.sleep(receiver.hang)
            self._reply(503, b"")
            return
        if self.path not in ("/v1/traces", "/v1/metrics"):
            self._reply(404, b"")
            return
        if receiver.status != 200:
            self._reply(receiver.status, b"", receiver.retry_after)
            return
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.headers.get("Content-Type") != "application/x-protobuf":
            self._reply(415, b"")
            return
        if self.path == "/v1/metrics":
            receiver._accept_metrics(body)
            self._reply(200, ExportMetricsServiceResponse().SerializeToString())
            return
        receiver._accept(body, dict(self.headers))
        self._reply(200, ExportTraceServiceResponse().SerializeToString())

    def _reply(self, status: int, body: bytes, retry_after: str | None = None) -> None:
        self.send_response(status)
        if retry_after is not None:
            self.send_header("Retry-After", retry_after)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    """Run the receiver on its own and print each span: python -m tests.support.otlp_receiver"""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=4318)
    parser.add_argument("--quiet", action="store_true", help="take spans without printing them")
    args = parser.parse_args()

    def show(span: ReceivedSpan) -> None:
        print(
            json.dumps({"name": span.name, "trace_id": span.trace_id, **span.attributes}),
            flush=True,
        )

    receiver = OtlpReceiver(port=args.port, on_span=None if args.quiet else show, keep=False)
    print(f"OTLP/HTTP receiver at {receiver.endpoint}/v1/traces", flush=True)
    receiver._server.serve_forever()


if __name__ == "__main__":
    main()
