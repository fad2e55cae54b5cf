"""A job as the API shows it and as its callback carries it."""

from gateway.models import Completion


def completion_payload(completion: Completion) -> dict:
    """The job as GET /api/v1/completions/{id} shows it, and as its callback carries it."""
    body = {
        "id": str(completion.id),
        "status": completion.status,
        "created_at": completion.created_at,
        "started_at": completion.started_at,
        "finished_at": completion.finished_at,
        "attempts": completion.attempts,
    }
    if completion.result is not None:
        body["result"] = completion.result
    if completion.error is not None and completion.status != Completion.Status.SUCCEEDED:
        body["error"] = completion.error
    return body
