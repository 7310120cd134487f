"""Static checks of the container deployment (Dockerfile, compose.yaml, deploy/): no container
engine or cluster needed. scripts/compose-test.sh (`make compose-test`) runs the real thing."""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from judge.config import Config, read_conf_file

ROOT = Path(__file__).resolve().parents[1]
KUBERNETES_DIR = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30.0"  # the oldest release with securityContext.appArmorProfile
WORKER_CAPABILITIES = {"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "KILL", "SYS_ADMIN"}


def _compose(name: str = "compose.yaml") -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def _manifests() -> list[tuple[str, dict]]:
    found = []
    for path in sorted(KUBERNETES_DIR.glob("*.yaml")):
        if path.name == "kustomization.yaml":  # kustomize's, not a Kubernetes object
            continue
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found.append((f"{path.name}:{document['kind']}/{document['metadata']['name']}",
                              document))
    return found


def _pod_specs() -> list[tuple[str, dict]]:
    specs = []
    for name, manifest in _manifests():
        template = manifest.get("spec", {}).get("template")
        if template:
            specs.append((name, template["spec"]))
    return specs


# -- compose.yaml -----------------------------------------------------------------------------

def test_compose_file_has_the_engine_services_with_health_checks():
    services = _compose()["services"]
    assert {"api", "worker", "postgres", "redis", "migrate"} <= set(services)
    for name, service in services.items():
        if name != "migrate":  # a one-shot job: it exits when done
            assert "test" in service.get("healthcheck", {}), f"{name} has no health check"
    assert services["api"]["ports"] == ["${JUDGE_PORT:-2358}:2358"]
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]


def test_no_compose_service_is_privileged_and_the_worker_gets_only_its_capabilities():
    for name in ("compose.yaml", "deploy/compose.podman.yaml"):
        for service_name, service in _compose(name)["services"].items():
            assert not service.get("privileged"), f"{name}: {service_name} is privileged"
            assert "seccomp=unconfined" not in service.get("security_opt", [])
    worker = _compose()["services"]["worker"]
    assert worker["cap_drop"] == ["ALL"]
    assert set(worker["cap_add"]) == WORKER_CAPABILITIES


def test_the_worker_runs_under_the_shipped_seccomp_profile_which_is_up_to_date():
    import deploy.container.seccomp_profile as seccomp_profile
    assert (ROOT / "deploy/container/worker-seccomp.json").read_text() == seccomp_profile.text()
    assert "seccomp=deploy/container/worker-seccomp.json" in \
        _compose()["services"]["worker"]["security_opt"]
    worker = next(spec for name, spec in _pod_specs() if name.endswith("judge-worker"))
    container = next(c for c in worker["containers"] if c["name"] == "worker")
    assert container["securityContext"]["seccompProfile"] == {
        "type": "Localhost", "localhostProfile": "judge-worker.json"}
    denied = seccomp_profile.profile()["syscalls"][0]["names"]
    assert "pivot_root" not in denied and {"ptrace", "bpf", "keyctl", "kexec_load"} <= set(denied)


def test_the_api_runs_as_an_unprivileged_user():
    services = _compose()["services"]
    assert services["api"]["user"] == "judge"
    assert "USER judge" in (ROOT / "Dockerfile").read_text()


def test_api_and_workers_wait_for_the_migration():
    services = _compose()["services"]
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"}


def test_env_file_example_names_only_known_variables_with_their_defaults():
    known = {spec.metadata["env"] for spec in Config.__dataclass_fields__.values()
             if "env" in spec.metadata}
    example = read_conf_file(ROOT / "judge0.conf.example")
    assert set(example) <= known | {"DATABASE_URL", "REDIS_URL"}, set(example) - known
    configured = Config.load(environ=example)
    defaults = Config.load(environ={})
    infrastructure = {"postgres_host", "postgres_db", "postgres_user", "redis_host",
                      "database_url", "redis_url"}
    for name, spec in Config.__dataclass_fields__.items():
        if name not in infrastructure and spec.compare:
            assert getattr(configured, name) == getattr(defaults, name), name


# -- Dockerfile -------------------------------------------------------------------------------

def test_dockerfile_installs_from_the_same_package_lists_as_the_makefile():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY deps/debian-core.txt" in dockerfile
    assert "judge languages packages" in dockerfile
    assert "scripts/install-deps.sh $lists" in dockerfile
    assert re.search(r"^ARG BASE=debian:bookworm-slim$", dockerfile, re.M)
    assert re.search(r"^ARG LANGUAGES=all$", dockerfile, re.M)
    # no package is installed past the lists (the builder's python3 is not in the image)
    final_stage = dockerfile.split("\nFROM ${BASE}\n", 1)[1]
    assert "apt-get install" not in final_stage


def test_dockerignore_keeps_local_environments_and_secrets_out_of_the_image():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "judge0.conf", ".env"} <= set(ignored)


# -- Kubernetes --------------------------------------------------------------------------------

@pytest.mark.parametrize("name,manifest", _manifests(), ids=[n for n, _ in _manifests()])
def test_kubernetes_manifest_matches_the_schema(name, manifest):
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_kubernetes_has_api_worker_services_config_and_data_stores():
    kinds = {name.split(":", 1)[1] for name, _ in _manifests()}
    assert {"Deployment/judge-api", "Deployment/judge-worker", "Service/judge-api",
            "ConfigMap/judge-config", "Secret/judge-secrets", "StatefulSet/judge-postgres",
            "Service/judge-postgres", "Deployment/judge-redis", "Service/judge-redis"} <= kinds


def test_no_pod_is_privileged_and_only_the_worker_has_capabilities():
    for name, spec in _pod_specs():
        assert not spec.get("hostPID") and not spec.get("hostNetwork"), name
        for container in spec.get("initContainers", []) + spec["containers"]:
            context = container.get("securityContext", {})
            assert not context.get("privileged"), name
            assert context["capabilities"]["drop"] == ["ALL"], name
            added = set(context["capabilities"].get("add", []))
            if name.endswith("Deployment/judge-worker") and container["name"] == "worker":
                assert added == WORKER_CAPABILITIES
            else:
                assert not added, name
                assert context["runAsNonRoot"] and not context["allowPrivilegeEscalation"], name
