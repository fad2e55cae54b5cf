from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Gateway"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.models import Team
        from audit.admin_filters import model_names_from
        from gateway import tracing
        from gateway.models import Backend, ModelRoute, RouteTarget
        from gateway.selectors import resolved_routes

        # Before any WSGI handler loads the middleware, so the Django server span wraps every request.
        # The providers and their threads start later, after fork (gunicorn post_fork, Celery
        # worker_process_init).
        tracing.instrument()
        # Any write in this process (admin, services, shell) empties its route cache at once.
        # The audit list filters by the models callers may ask for: the routes, kept here.
        model_names_from(lambda: ModelRoute.objects.order_by("name").values_list("name", flat=True))
        resolved_routes.clear_on_change(
            Backend, ModelRoute, RouteTarget, Team, m2m_through=[Team.allowed_routes.through]
        )
