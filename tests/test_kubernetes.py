"""deploy/kubernetes as `kubectl apply -k` would send it, checked without a cluster: every object is
valid against Kubernetes' own schemas (strictly: no misspelt field is silently dropped), every
variable is one Corral reads, the probes reach /readyz and /healthz with a Host Corral allows, the
commands are the ones docker-compose runs, and beat has no deployment of its own."""

import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.test_deploy import SERVICES, _read_by_corral

ROOT = Path(__file__).resolve().parent.parent
KUBE = ROOT / "deploy" / "kubernetes"
KUSTOMIZATION = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
OBJECTS = [
    document
    for resource in KUSTOMIZATION["resources"]
    for document in yaml.safe_load_all((KUBE / resource).read_text())
]
CONFIG = next(o for o in OBJECTS if o["kind"] == "ConfigMap")["data"]


def deployment(name: str) -> dict:
    return next(o for o in OBJECTS if o["kind"] == "Deployment" and o["metadata"]["name"] == name)


def container(name: str) -> dict:
    (only,) = deployment(name)["spec"]["template"]["spec"]["containers"]
    return only


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: f"{o['kind']}/{o['metadata']['name']}")
def test_every_object_is_valid_kubernetes(obj):
    kubernetes_validate.validate(obj, "1.37.0", strict=True)


def test_every_file_is_a_resource_of_the_kustomization():
    assert sorted(KUSTOMIZATION["resources"]) == sorted(
        p.name for p in KUBE.glob("*.yaml") if p.name != "kustomization.yaml"
    )


def test_every_variable_is_read_by_corral():
    known = _read_by_corral()
    for variable in CONFIG:
        assert variable in known or variable.startswith("OTEL_"), f"{variable} unused"


def test_the_web_nodes_are_ready_only_when_corral_says_so():
    web = container("corral-web")
    port = web["ports"][0]
    bind = re.search(
        r'"CORRAL_BIND", "[\d.]+:(\d+)"', (ROOT / "deploy/gunicorn.conf.py").read_text()
    )
    assert port["containerPort"] == int(bind.group(1))
    allowed = CONFIG["ALLOWED_HOSTS"].split(",")
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = web[probe]["httpGet"]
        assert get["path"] == path and get["port"] == port["name"]
        # Django refuses any other Host: a probe with the pod's IP would fail every time
        assert {"name": "Host", "value": "localhost"} in get[
            "httpHeaders"
        ] and "localhost" in allowed
    service = next(o for o in OBJECTS if o["kind"] == "Service")
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    assert (
        service["spec"]["selector"] == deployment("corral-web")["spec"]["selector"]["matchLabels"]
    )


def test_the_processes_are_the_ones_compose_runs():
    for name, service in (
        ("corral-web", "web"),
        ("corral-worker", "worker"),
    ):
        command = container(name)["command"]
        compose = SERVICES[service]["command"]
        assert command[:4] == compose[:4], name
    job = next(o for o in OBJECTS if o["kind"] == "Job")
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert migrate["command"] == SERVICES["migrate"]["command"]


def test_beat_is_no_deployment_of_its_own():
    # it runs inside every worker, one sending at a time (config.worker_beat): scaling the
    # workers never makes two
    assert not [o for o in OBJECTS if "beat" in o["metadata"]["name"]]
    assert container("corral-worker")["command"][:4] == ["celery", "-A", "config", "worker"]
