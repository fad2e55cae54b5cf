"""Models on the backends, managed through Corral's Ollama door (`ollama pull`, Open WebUI's model
screens): each operation goes to every enabled backend, or the one a request names in `backend`;
each backend's outcome goes to the admin action log; the routes follow what was added or deleted.

Corral relays the bodies as they came (Ollama's create, for one, has several forms) and the progress
lines as they go, each with the backend it came from."""

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from audit.admin_actions import admin_action_note
from common.errors import InvalidRequest, UpstreamError, UpstreamUnavailable
from gateway.models import Backend
from gateway.services import route_follow_model_added, route_follow_model_deleted

# Kept with an error line for the door's non-streamed answer; never sent.
STATUS_KEY = "_status"
# what each operation does to the routes once a backend reports success
ADDS_A_MODEL = {"pull": "model", "create": "model", "copy": "destination"}


@dataclass(frozen=True)
class Outcome:
    backend: str
    status: int
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def backends_for(body: dict) -> list[Backend]:
    enabled = Backend.objects.filter(enabled=True).order_by("name")
    name = body.get("backend")
    if name is None:
        backends = list(enabled)
    else:
        if not isinstance(name, str):
            raise InvalidRequest("backend: must be a backend's name.")
        backends = list(enabled.filter(name=name))
        if not backends:
            raise InvalidRequest(f"backend: no enabled backend named '{name}'.")
    if not backends:
        raise UpstreamUnavailable("no backend is switched on")
    return backends


def _timeout(backend: Backend) -> httpx.Timeout:
    # A pull takes as long as it takes; what may not happen is a silence between progress lines.
    return httpx.Timeout(
        connect=backend.connect_timeout, read=max(backend.idle_timeout, 60), write=60, pool=10
    )


def _upstream_body(body: dict) -> dict:
    return {key: value for key, value in body.items() if key != "backend"}


def _name(body: dict, key: str) -> str:
    value = body.get(key) or (body.get("name") if key == "model" else None)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{key}: is required.")
    return value


def _record(actor, operation: str, body: dict, backend: Backend, outcome: Outcome) -> None:
    model = (
        body.get("destination") if operation == "copy" else body.get("model") or body.get("name")
    )
    admin_action_note(
        actor=actor,
        action="delete" if operation == "delete" else "create" if operation != "push" else "change",
        object_type="ollama.model",
        object_id=f"{backend.name}:{model}",
        object_repr=f"{operation} {model} on {backend.name}",
        after={
            "operation": operation,
            "backend": backend.name,
            "request": _upstream_body(body),
            "status": outcome.status,
            "error": outcome.error,
        },
    )


def _follow_routes(operation: str, body: dict, backend: Backend) -> None:
    if operation in ADDS_A_MODEL:
        model = _name(body, ADDS_A_MODEL[operation])
        tagged = model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"
        route_follow_model_added(backend=backend, model=tagged)
    elif operation == "delete":
        model = _name(body, "model")
        tagged = model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"
        route_follow_model_deleted(backend=backend, model=tagged)


def _finished(actor, operation: str, body: dict, backend: Backend, outcome: Outcome) -> None:
    _record(actor, operation, body, backend, outcome)
    if outcome.ok:
        _follow_routes(operation, body, backend)


def model_progress(*, actor, operation: str, body: dict) -> Iterator[dict]:
    """pull, create or push on each backend in turn: their progress lines (with `backend`), then
    one `{"status": "success"}`, or an `{"error": ...}` line where a backend failed."""
    backends = backends_for(body)
    _name(body, "model")
    upstream = {**_upstream_body(body), "stream": True}
    failed = False
    for backend in backends:
        url = f"{backend.base_url.rstrip('/')}/api/{operation}"
        outcome = Outcome(backend.name, 200)
        try:
            with httpx.stream("POST", url, json=upstream, timeout=_timeout(backend)) as response:
                if response.status_code >= 400:
                    response.read()
                    outcome = Outcome(backend.name, response.status_code, _error_of(response))
                else:
                    for line in response.iter_lines():
                        if not line.strip():
                            continue
                        progress = json.loads(line)
                        if "error" in progress:
                            outcome = Outcome(backend.name, 500, str(progress["error"]))
                            break
                        if progress.get("status") != "success":
                            yield {**progress, "backend": backend.name}
        except (httpx.HTTPError, ValueError) as exc:
            outcome = Outcome(backend.name, 502, f"{exc.__class__.__name__}: {exc}")
        _finished(actor, operation, body, backend, outcome)
        if not outcome.ok:
            failed = True
            yield {
                "error": f"backend '{backend.name}': {outcome.error}",
                "backend": backend.name,
                STATUS_KEY: outcome.status,
            }
    if not failed:
        yield {"status": "success"}


def model_change(*, actor, operation: str, body: dict) -> list[Outcome]:
    """copy or delete on each backend; one outcome each."""
    backends = backends_for(body)
    if operation == "copy":
        _name(body, "source")
        _name(body, "destination")
    else:
        _name(body, "model")
    outcomes = []
    for backend in backends:
        url = f"{backend.base_url.rstrip('/')}/api/{operation}"
        method = "DELETE" if operation == "delete" else "POST"
        try:
            response = httpx.request(
                method, url, json=_upstream_body(body), timeout=_timeout(backend)
            )
            outcome = Outcome(backend.name, response.status_code, _error_of(response))
        except httpx.HTTPError as exc:
            outcome = Outcome(backend.name, 502, f"{exc.__class__.__name__}: {exc}")
        _finished(actor, operation, body, backend, outcome)
        outcomes.append(outcome)
    return outcomes


def blob_exists(*, digest: str) -> bool:
    """A blob is there when every enabled backend has it (a create needs it where it runs)."""
    backends = backends_for({})
    for backend in backends:
        try:
            response = httpx.head(
                f"{backend.base_url.rstrip('/')}/api/blobs/{digest}", timeout=_timeout(backend)
            )
        except httpx.HTTPError as exc:
            raise UpstreamError(f"backend '{backend.name}': {exc.__class__.__name__}") from exc
        if response.status_code != 200:
            return False
    return True


def _error_of(response: httpx.Response) -> str:
    if response.status_code < 400:
        return ""
    try:
        return str(response.json().get("error", ""))
    except ValueError:
        return response.text[:300]
