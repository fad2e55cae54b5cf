from django.conf import settings
from django.db import migrations


def create_default_backend(apps, schema_editor):
    """On first start, the Ollama server at OLLAMA_HOST becomes the backend named `default`."""
    Backend = apps.get_model("gateway", "Backend")
    if not Backend.objects.exists():
        Backend.objects.create(
            name="default",
            base_url=settings.OLLAMA_HOST,
            connect_timeout=settings.CORRAL_CONNECT_TIMEOUT,
            read_timeout=settings.CORRAL_IDLE_TIMEOUT,  # renamed idle_timeout in 0006
            total_timeout=settings.CORRAL_TOTAL_TIMEOUT,
        )


class Migration(migrations.Migration):
    dependencies = [("gateway", "0001_initial")]

    operations = [migrations.RunPython(create_default_backend, migrations.RunPython.noop)]
