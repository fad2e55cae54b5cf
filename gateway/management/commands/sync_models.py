from django.core.management.base import BaseCommand, CommandError

from common.errors import GatewayError
from gateway.models import Backend
from gateway.services import routes_sync_from_backend


class Command(BaseCommand):
    help = "Import the models a backend serves (its /api/tags) as enabled routes."

    def add_arguments(self, parser):
        parser.add_argument("--backend", help="backend name (default: every enabled backend)")

    def handle(self, *args, backend=None, **options):
        if backend:
            backends = list(Backend.objects.filter(name=backend))
            if not backends:
                raise CommandError(f"no backend named '{backend}'")
        else:
            backends = list(Backend.objects.filter(enabled=True))
            if not backends:
                raise CommandError("no enabled backend")
        failed = False
        for item in backends:
            try:
                report = routes_sync_from_backend(backend=item)
            except GatewayError as exc:
                self.stderr.write(f"{item.name} at {item.base_url}: {exc.message}")
                failed = True
                continue
            for name in report.created:
                self.stdout.write(f"{report.backend}: added {name}")
            for name in report.joined:
                self.stdout.write(f"{report.backend}: now also serves {name}")
            self.stdout.write(
                f"{report.backend} at {item.base_url}: {len(report.created)} added, "
                f"{len(report.joined)} joined, {len(report.existing)} already present"
            )
        if failed:
            raise CommandError("some backends could not be read")
