from django.core.management.base import BaseCommand, CommandError

from audit.chain import audit_chain_seal, audit_chain_verify


class Command(BaseCommand):
    help = (
        "Verify the audit trail's hash chain and hold its end against the signed checkpoints; "
        "report OK or the first thing that does not match."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--seal-first", action="store_true", help="seal finalized records into the chain first"
        )
        parser.add_argument(
            "--checkpoint",
            action="append",
            default=[],
            metavar="LINE",
            help="a checkpoint kept outside the database (seal:SEQ:HASH:TIME:SIGNATURE, as the "
            "'audit checkpoint' log lines print it); may be given more than once",
        )

    def handle(self, *args, seal_first=False, checkpoint=(), **options):
        if seal_first:
            while audit_chain_seal():
                pass
        report = audit_chain_verify(checkpoints=checkpoint)
        if not report.ok:
            where = (
                f" at record {report.first_bad_id} (chain position {report.first_bad_seq})"
                if report.first_bad_id
                else ""
            )
            raise CommandError(
                f"MISMATCH{where}: {report.reason}; {report.checked} records before it verified"
            )
        anchored = (
            f", anchored by a signed checkpoint at position {report.anchored_at}"
            if report.anchored_at
            else ", no signed checkpoint yet"
        )
        self.stdout.write(
            f"OK: {report.checked} sealed records verified{anchored}; {report.unsealed} finalized "
            "records waiting to be sealed"
        )
