"""The probes of the access table (docs/security.md), one per row; importing this package registers
them all."""

from tests.support.access_probes import admin, people  # noqa: F401  (registers the probes)
from tests.support.access_probes.registry import PROBES, TOKEN_TEAM_ROWS, Probe

__all__ = ["PROBES", "TOKEN_TEAM_ROWS", "Probe"]
