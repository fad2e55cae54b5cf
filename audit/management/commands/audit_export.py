from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import make_aware

from audit.export import EXPORTERS
from audit.selectors import audit_record_filter


def _moment(value: str) -> datetime:
    parsed = parse_datetime(value) or (
        datetime.combine(day, datetime.min.time()) if (day := parse_date(value)) else None
    )
    if parsed is None:
        raise CommandError(f"not a date or time: {value}")
    return parsed if parsed.tzinfo else make_aware(parsed)


class Command(BaseCommand):
    help = "Export audit records as CSV or JSON lines, streamed, with the admin's filters."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=sorted(EXPORTERS), default="csv")
        parser.add_argument("--output", help="file to write (default: standard output)")
        parser.add_argument("--status")
        parser.add_argument("--model")
        parser.add_argument("--team", help="team slug")
        parser.add_argument("--user", help="username")
        parser.add_argument("--surface")
        parser.add_argument("--since", help="date or ISO time, inclusive")
        parser.add_argument("--until", help="date or ISO time, exclusive")
        parser.add_argument("--search", help="text in user, model, prompt or completion")

    def handle(self, *args, **options):
        records = audit_record_filter(
            status=options["status"],
            model=options["model"],
            team=options["team"],
            user=options["user"],
            surface=options["surface"],
            since=_moment(options["since"]) if options["since"] else None,
            until=_moment(options["until"]) if options["until"] else None,
            search=options["search"],
        )
        exporter = EXPORTERS[options["format"]]
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8", newline="") as stream:
                stream.writelines(exporter(records))
        else:
            for piece in exporter(records):
                self.stdout.write(piece, ending="")
