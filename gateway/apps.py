from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Gateway"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from gateway import tracing

        # Before any WSGI handler loads the middleware, so the Django server span wraps every request.
        tracing.configure()
