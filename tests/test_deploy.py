"""The production stack as docker-compose.yml describes it, checked without a Docker engine: every
service's command exists, every variable is one Corral (or the OpenTelemetry SDK) reads and is
documented in .env.example, every mounted file is in the repository, and the collector's config
fits the services around it."""

import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
CORRAL = [name for name, service in SERVICES.items() if service.get("image") == "corral:latest"]
_VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")


def _read_by_corral() -> set[str]:
    """Environment names the settings and the gunicorn config read."""
    sources = (
        "".join(path.read_text() for path in (ROOT / "config/settings").glob("*.py"))
        + (ROOT / "deploy/gunicorn.conf.py").read_text()
    )
    return set(
        re.findall(r"""(?:env(?:\.\w+)?\(|environ\.get\()\s*["']([A-Z0-9_]+)["']""", sources)
    )


def _command(service: dict) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else command


def test_the_stack_has_every_service():
    assert {
        "postgres",
        "redis",
        "ollama",
        "ollama-pull",
        "migrate",
        "web",
        "worker",
        "otel-collector",
        "jaeger",
    } <= SERVICES.keys()
    assert {"web", "worker", "migrate"} <= set(CORRAL)
    # beat runs inside the worker (config.worker_beat): no process of its own to keep single
    assert "beat" not in SERVICES


@pytest.mark.parametrize("name", CORRAL)
def test_corral_commands_exist(name):
    command = _command(SERVICES[name])
    if command[:2] == ["python", "manage.py"]:
        assert command[2] in get_commands(), f"{name}: no management command {command[2]}"
    elif command[0] == "gunicorn":
        config = command[command.index("-c") + 1]
        assert (ROOT / config).is_file()
        assert 'wsgi_app = "config.wsgi:application"' in (ROOT / config).read_text()
        assert (ROOT / "config/wsgi.py").is_file()
    elif command[0] == "celery":
        assert command[1:4] == ["-A", "config", "worker"]
        assert (ROOT / "config/celery.py").is_file()
    else:
        pytest.fail(f"{name}: unexpected command {command}")


def test_every_corral_variable_is_read_by_corral():
    known = _read_by_corral()
    for name in CORRAL:
        for variable in SERVICES[name]["environment"]:
            # OTEL_* are the OpenTelemetry SDK's own, read by it from the environment
            assert variable in known or variable.startswith("OTEL_"), f"{name}: {variable} unused"


def test_every_compose_variable_is_in_env_example():
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", example, re.MULTILINE))
    used = set(_VARIABLE.findall((ROOT / "docker-compose.yml").read_text()))
    assert used - documented == set()
    assert "SECRET_KEY" in used and re.search(r"^SECRET_KEY=$", example, re.MULTILINE)


def test_every_dependency_and_volume_is_declared():
    volumes = set(COMPOSE["volumes"])
    for name, service in SERVICES.items():
        for dependency in service.get("depends_on", []):
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).is_file(), f"{name} mounts missing {source}"
            else:
                assert source in volumes, f"{name} mounts undeclared volume {source}"


def test_long_running_services_have_health_checks_and_start_in_order():
    for name in ("postgres", "redis", "ollama", "web", "worker"):
        assert SERVICES[name].get("healthcheck"), f"{name} has no health check"
    for name in ("web", "worker", "sync-models"):
        condition = SERVICES[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully"  # migrations run before they start
    assert SERVICES["sync-models"]["depends_on"]["ollama-pull"]["condition"] == (
        "service_completed_successfully"
    )
    assert "ollama" in SERVICES["ollama-pull"]["entrypoint"][0]
    assert "${OLLAMA_MODEL" in SERVICES["ollama-pull"]["entrypoint"][2]
    health = SERVICES["web"]["healthcheck"]["test"][-1]
    assert "/healthz" in health and ":8000" in health


def test_corral_reaches_the_other_services_where_they_listen():
    environment = SERVICES["web"]["environment"]
    assert urlsplit(environment["REDIS_URL"]).hostname == "redis"
    assert "@postgres:5432/" in environment["DATABASE_URL"]
    assert urlsplit(environment["OLLAMA_HOST"]).hostname == "ollama"
    collector = urlsplit(environment["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert collector.hostname == "otel-collector"
    config = yaml.safe_load((ROOT / "deploy/otel-collector/config.yaml").read_text())
    receiver = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert receiver.endswith(f":{collector.port}")
    assert f"{collector.port}:{collector.port}" in SERVICES["otel-collector"]["ports"]
    jaeger = config["exporters"]["otlp/jaeger"]["endpoint"]
    assert jaeger.split(":")[0] == "jaeger" and jaeger.endswith(":4317")  # Jaeger's OTLP gRPC
    assert SERVICES["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    assert "{trace_id}" in environment["CORRAL_TRACE_URL_TEMPLATE"]


def _merge(base: dict, overlay: dict) -> dict:
    """The collector's merge of several --config files: maps merged, anything else replaced."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@pytest.mark.parametrize("overlay", ["no-forward", "forward"])
def test_collector_configs_are_complete(overlay):
    service = SERVICES["otel-collector"]
    mounted = {m.split(":")[1]: m.split(":")[0] for m in service["volumes"]}
    files = [arg.split("=", 1)[1] for arg in service["command"]]
    assert files[1].endswith("${OTEL_FORWARD_CONFIG:-no-forward}.yaml")
    path = files[1].replace("${OTEL_FORWARD_CONFIG:-no-forward}", overlay)
    assert files[0] in mounted and path in mounted
    config = _merge(
        yaml.safe_load((ROOT / mounted[files[0]]).read_text()),
        yaml.safe_load((ROOT / mounted[path]).read_text()),
    )
    for pipeline in config["service"]["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in config[kind], f"{component} is not defined"
    for extension in config["service"].get("extensions", []):
        assert extension in config["extensions"]
    if overlay == "forward":
        exporter = config["exporters"]["otlphttp/forward"]
        assert exporter["endpoint"] == "${env:FORWARD_OTLP_ENDPOINT}"
        for variable in ("FORWARD_OTLP_ENDPOINT", "FORWARD_OTLP_AUTHORIZATION"):
            assert variable in service["environment"]
        traces = config["service"]["pipelines"]["traces"]["exporters"]
        assert traces == ["otlp/jaeger", "otlphttp/forward"]


def test_the_image_runs_the_production_server():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-cache-dir -r requirements.txt" in dockerfile
    assert "collectstatic" in dockerfile  # whitenoise serves the collected files
    assert 'CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py"]' in dockerfile
    assert "USER corral" in dockerfile


def test_check_deploy_is_clean_with_https_production_settings(tmp_path):
    import os
    import secrets
    import subprocess
    import sys

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "CORRAL_ENV_FILE": "",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": f"sqlite:///{tmp_path}/check.sqlite3",
        # what .env.example asks for once HTTPS works
        "SECURE_SSL_REDIRECT": "true",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "SECURE_HSTS_PRELOAD": "true",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_proxy_is_the_door_to_every_web_container():
    """`docker compose up --scale web=N`: no web container takes a host port (two could not); nginx
    publishes CORRAL_PORT and finds every `web` through Docker's DNS; Corral believes one proxy."""
    proxy, web = SERVICES["proxy"], SERVICES["web"]
    assert "ports" not in web
    published = proxy["ports"][0].rsplit(":", 1)[1]
    default = (ROOT / "deploy/nginx/default.conf").read_text()
    assert f"listen {published};" in default
    bind_port = re.search(
        r'"CORRAL_BIND", "[\d.]+:(\d+)"', (ROOT / "deploy/gunicorn.conf.py").read_text()
    )
    assert f"server web:{bind_port.group(1)} resolve" in default
    included = re.search(r"include (\S+);", default).group(1)
    assert any(mount.split(":")[1] == included for mount in proxy["volumes"])
    assert web["environment"]["CORRAL_TRUSTED_PROXIES"].startswith("${CORRAL_TRUSTED_PROXIES:-1")
