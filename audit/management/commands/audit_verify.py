from django.core.management.base import BaseCommand, CommandError

from audit.chain import audit_chain_seal, audit_chain_verify


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain; report OK or the first record that does not match."

    def add_arguments(self, parser):
        parser.add_argument(
            "--seal-first", action="store_true", help="seal finalized records into the chain first"
        )

    def handle(self, *args, seal_first=False, **options):
        if seal_first:
            while audit_chain_seal():
                pass
        report = audit_chain_verify()
        if not report.ok:
            raise CommandError(
                f"MISMATCH at record {report.first_bad_id} (chain position {report.first_bad_seq}): "
                f"{report.reason}; {report.checked} records before it verified"
            )
        self.stdout.write(
            f"OK: {report.checked} sealed records verified; {report.unsealed} finalized records "
            "waiting to be sealed"
        )
