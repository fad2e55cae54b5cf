from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model

        from accounts.authentication import checked_tokens
        from accounts.models import ApiToken, Membership, Team, UserLimits

        # A revoked token, a deactivated user, a membership ended or changed limits must not
        # outlive a write here.
        checked_tokens.clear_on_change(ApiToken, get_user_model(), UserLimits, Team, Membership)
        # Every app's post_migrate: the groups are complete once the last app made its permissions.
        post_migrate.connect(_ensure_role_groups, dispatch_uid="corral_role_groups")


def _ensure_role_groups(**kwargs) -> None:
    from accounts.services import roles_ensure_groups

    roles_ensure_groups()
