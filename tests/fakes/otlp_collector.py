"""A tiny OTLP/HTTP trace collector: decodes `ExportTraceServiceRequest` protobufs posted
to /v1/traces (what OpenTelemetry's OTLPSpanExporter sends) and keeps the spans."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from ._http import QuietHandler, ServerThread


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str  # "" for a root span
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    links: tuple[tuple[str, str], ...]  # (trace_id, span_id)
    service: str
    status_code: int
    events: tuple[str, ...] = field(default=())


class _Handler(QuietHandler):
    def do_POST(self) -> None:
        collector: OTLPCollector = self.server.owner
        body = self.read_body()
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path != "/v1/traces":
            self.send_response(404)
            self.end_headers()
            return
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        collector.bodies.append(body)
        collector.add(request)
        data = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class OTLPCollector:
    def __init__(self) -> None:
        self._server = ServerThread(_Handler, self)
        self._lock = threading.Lock()
        self._spans: list[Span] = []
        self.bodies: list[bytes] = []  # the protobuf bodies received (decompressed)

    @property
    def endpoint(self) -> str:
        """For OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces)."""
        return f"http://127.0.0.1:{self._server.port}"

    def __enter__(self) -> OTLPCollector:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def add(self, request: ExportTraceServiceRequest) -> None:
        spans = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                spans += [
                    _span(s, str(resource.get("service.name", ""))) for s in scope_spans.spans
                ]
        with self._lock:
            self._spans += spans

    def spans(self) -> list[Span]:
        with self._lock:
            return list(self._spans)

    def wait_for(self, condition: Callable[[list[Span]], Any], timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = condition(self.spans())
            if found:
                return found
            time.sleep(0.05)
        names = sorted({s.name for s in self.spans()})
        raise AssertionError(f"spans never matched within {timeout}s; got {names}")


def _span(span: Any, service: str) -> Span:
    return Span(
        name=span.name,
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_id=span.parent_span_id.hex(),
        kind=span.kind,
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        attributes={a.key: _value(a.value) for a in span.attributes},
        links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in span.links),
        service=service,
        status_code=span.status.code,
        events=tuple(event.name for event in span.events),
    )
