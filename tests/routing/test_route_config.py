"""A route's defaults reach Ollama; the admin's backend actions; the beat's health check; the
Ollama door's listings."""

import pytest

from audit.models import AuditRecord
from config.celery import app
from gateway.models import Backend, BackendHealth, ModelRoute
from gateway.services import route_create, route_target_add
from gateway.tasks import backends_health_check as health_check_task
from tests.conftest import MODEL, UPSTREAM_MODEL
from tests.routing.calls import chat, dead_url

pytestmark = pytest.mark.django_db


# --- route defaults --------------------------------------------------------------------------


def test_route_defaults_reach_ollama(api, backends, gpus):
    route_create(
        name=MODEL,
        backend=backends["gpu-a"],
        upstream_model=UPSTREAM_MODEL,
        system_prompt="You answer in French.",
        keep_alive="10m",
        max_num_predict=256,
        max_keep_alive="",  # no maximum: "-1" (forever) below goes through
        default_options={"num_ctx": 8192, "temperature": 0.1},
    )
    assert chat(api, options={"num_predict": 5000, "temperature": 0.7}).status_code == 200
    assert chat(api, options={"num_predict": 100}).status_code == 200
    own_system = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert chat(api, messages=own_system).status_code == 200
    ModelRoute.objects.update(keep_alive="-1")
    assert chat(api, keep_alive="5m").status_code == 200  # the caller's own wins
    assert chat(api).status_code == 200

    capped, within, own, callers_keep_alive, forever = [r["body"] for r in gpus["gpu-a"].requests]
    assert capped["messages"][0] == {"role": "system", "content": "You answer in French."}
    assert capped["options"] == {"num_ctx": 8192, "temperature": 0.7, "num_predict": 256}
    assert capped["keep_alive"] == "10m"
    assert within["options"]["num_predict"] == 100 and within["options"]["temperature"] == 0.1
    assert own["messages"] == own_system
    assert callers_keep_alive["keep_alive"] == "5m"
    assert forever["keep_alive"] == -1  # a bare number goes to Ollama as a number

    record = AuditRecord.objects.order_by("started_at").first()
    assert record.options["num_predict"] == 256
    assert record.messages[0]["content"] == "You answer in French."


# --- admin -----------------------------------------------------------------------------------


def _act(admin_client, action: str, *backends: Backend) -> list[str]:
    response = admin_client.post(
        "/admin/gateway/backend/",
        {"action": action, "_selected_action": [b.pk for b in backends]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(m) for m in response.context["messages"]]


def test_admin_tests_a_backends_connection(admin_client, backends):
    Backend.objects.filter(name="gpu-b").update(base_url=dead_url())
    shown = _act(admin_client, "test_connection", backends["gpu-a"], backends["gpu-b"])
    assert any(m.startswith("gpu-a: up, Ollama 0.") and "1 model(s), 1 loaded" in m for m in shown)
    assert any(m.startswith("gpu-b: unknown (cannot connect") for m in shown), shown
    page = admin_client.get("/admin/gateway/backend/")
    assert b"up" in page.content and b"not checked" in page.content  # gpu-c never checked
    detail = admin_client.get(f"/admin/gateway/backend/{backends['gpu-a'].pk}/change/")
    assert UPSTREAM_MODEL.encode() in detail.content


def test_admin_imports_models_and_a_second_backend_joins_the_route(admin_client, backends):
    shown = _act(admin_client, "import_models", backends["gpu-a"])
    assert any("gpu-a: 1 route(s) added (llama3.2:latest)" in m for m in shown), shown
    shown = _act(admin_client, "import_models", backends["gpu-b"])
    assert any("1 route(s) now also served here (llama3.2:latest)" in m for m in shown), shown
    route = ModelRoute.objects.get(name=UPSTREAM_MODEL)
    assert [t.backend.name for t in route.targets.all()] == ["gpu-a", "gpu-b"]
    page = admin_client.get("/admin/gateway/modelroute/")
    assert b"gpu-a (llama3.2:latest, priority 0, weight 1)" in page.content


def test_admin_shows_routes_whose_model_the_backend_lacks(admin_client, backends):
    route_create(name="big", backend=backends["gpu-a"], upstream_model="llama3.2:70b")
    route_create(name=MODEL, backend=backends["gpu-a"], upstream_model=UPSTREAM_MODEL)
    shown = _act(admin_client, "show_missing_models", backends["gpu-a"], backends["gpu-b"])
    assert any("gpu-a lacks 1 model(s) routes point at: big -> llama3.2:70b" in m for m in shown)
    assert any("gpu-b: every route it serves has its model." in m for m in shown), shown


def test_the_beat_runs_the_health_check(backends):

    schedule = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "gateway.backends_health_check" in schedule
    health_check_task.apply()
    statuses = dict(BackendHealth.objects.values_list("backend__name", "status"))
    assert statuses == {"gpu-a": "up", "gpu-b": "up", "gpu-c": "up"}


def test_ollama_door_listings_describe_routes_served_by_several_backends(api, backends):
    route = route_create(name=MODEL, backend=backends["gpu-a"], upstream_model="llama3.2:70b")
    route_target_add(
        route=route, backend=backends["gpu-b"], upstream_model=UPSTREAM_MODEL, priority=1
    )
    tags = api.get("/ollama/api/tags").json()["models"]
    assert [t["name"] for t in tags] == [MODEL] and tags[0]["digest"] and tags[0]["size"]
    running = api.get("/ollama/api/ps").json()["models"]
    assert [m["name"] for m in running] == [MODEL]
    shown = api.post("/ollama/api/show", {"model": MODEL}, format="json")
    assert shown.status_code == 200 and shown.json()["details"]
