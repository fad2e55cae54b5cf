from django.db import connection

# pg_advisory_xact_lock's key for "sealing the chain" (any constant no other code uses).
SEALING_LOCK_KEY = 0x636F7272616C  # "corral"


def hold_sealing_lock() -> None:
    """Make this transaction the only one sealing records (or recounting what is sealed) until it
    ends. Another sealer waits for it, then finds the records already sealed.

    A row lock on the chain's head cannot do it: an empty chain has no head to lock, and two beats
    (or a beat and `audit_verify --seal-first`) would both start it. SQLite runs one writing
    transaction at a time anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEALING_LOCK_KEY])
