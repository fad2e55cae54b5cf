from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Gateway"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from gateway import tracing

        # Before any WSGI handler loads the middleware, so the Django server span wraps every request.
        # The providers and their threads start later, after fork (gunicorn post_fork, Celery
        # worker_process_init).
        tracing.instrument()
