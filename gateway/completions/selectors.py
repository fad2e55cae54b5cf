"""Reads of asynchronous completions."""

import uuid

from common.errors import NotFound
from gateway.models import Completion


def completion_get_for_user(*, user, completion_id: str) -> Completion:
    try:
        key = uuid.UUID(str(completion_id))
    except ValueError:
        raise NotFound(f"no completion with id '{completion_id}'") from None
    completion = Completion.objects.filter(id=key, user=user).first()
    if completion is None:
        raise NotFound(f"no completion with id '{completion_id}'")
    return completion
