from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Gateway"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from gateway import tracing
        from gateway.api import schema  # noqa: F401  (registers the OpenAPI extensions)

        # Before any WSGI handler loads the middleware, so the Django server span wraps every request.
        # The providers and their threads start later, after fork (gunicorn post_fork, Celery
        # worker_process_init).
        tracing.instrument()
        self._forget_routes_on_change()

    def _forget_routes_on_change(self) -> None:
        # Any write in this process (admin, services, shell) empties its route cache at once;
        # other processes catch up within CORRAL_ROUTE_CACHE_SECONDS.
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from accounts.models import Team
        from gateway.models import Backend, ModelRoute, RouteTarget
        from gateway.selectors import route_cache_clear

        def forget(**kwargs) -> None:
            route_cache_clear()

        for model in (Backend, ModelRoute, RouteTarget, Team):
            post_save.connect(forget, sender=model, weak=False)
            post_delete.connect(forget, sender=model, weak=False)
        m2m_changed.connect(forget, sender=Team.allowed_routes.through, weak=False)
