from accounts.models import Membership


def user_reads_all_audit(*, user) -> bool:
    """Staff and auditors read every audit record; everyone else only their own."""
    if user.is_staff or user.is_superuser:
        return True
    return Membership.objects.filter(user=user, role=Membership.Role.AUDITOR).exists()
