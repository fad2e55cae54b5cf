import time

from django.core.management.base import BaseCommand

from audit.rollups import rollups_rebuild


class Command(BaseCommand):
    help = (
        "Count every sealed audit record into the usage rollups again (the dashboard and the usage "
        "views read them; the sealer keeps them as it seals). For rollups in doubt, or after the "
        "server's TIME_ZONE changed (a day is a day in that zone)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--rebuild", action="store_true", required=True, help="drop the rollups and count again"
        )

    def handle(self, *args, **options):
        started = time.monotonic()
        counted = rollups_rebuild()
        self.stdout.write(
            f"usage rollups rebuilt from {counted:,} sealed records in "
            f"{time.monotonic() - started:.1f} s"
        )
