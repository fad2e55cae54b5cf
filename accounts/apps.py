from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model

        from accounts import schema  # noqa: F401  (registers the OpenAPI security scheme)
        from accounts.authentication import checked_tokens
        from accounts.models import ApiToken, Team, UserLimits

        # A revoked token, a deactivated user or changed limits must not outlive a write here.
        checked_tokens.clear_on_change(ApiToken, get_user_model(), UserLimits, Team)
