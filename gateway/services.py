from dataclasses import dataclass

from django.db import transaction

from gateway.models import Backend, ModelRoute
from gateway.upstream import client_for, translate_error


@dataclass(frozen=True)
class SyncReport:
    backend: str
    created: list[str]
    existing: list[str]


def routes_sync_from_backend(*, backend: Backend) -> SyncReport:
    """Import the backend's /api/tags as enabled routes; routes that exist already stay as they are."""
    try:
        listing = client_for(backend).list()
    except Exception as exc:
        raise translate_error(exc, backend, "") from exc
    names = sorted({model.model for model in listing.models if model.model})
    created, existing = [], []
    with transaction.atomic():
        for name in names:
            _, was_created = ModelRoute.objects.get_or_create(
                name=name, defaults={"backend": backend, "upstream_model": name}
            )
            (created if was_created else existing).append(name)
    return SyncReport(backend=backend.name, created=created, existing=existing)
