from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import schema  # noqa: F401  (registers the OpenAPI security scheme)

        self._forget_tokens_on_change()

    def _forget_tokens_on_change(self) -> None:
        # A revoked token, a deactivated user or changed limits must not outlive a write in this
        # process; other processes catch up within CORRAL_TOKEN_CACHE_SECONDS.
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save

        from accounts.authentication import token_cache_clear
        from accounts.models import ApiToken, Team, UserLimits

        def forget(**kwargs) -> None:
            token_cache_clear()

        for model in (ApiToken, get_user_model(), UserLimits, Team):
            post_save.connect(forget, sender=model, weak=False)
            post_delete.connect(forget, sender=model, weak=False)
