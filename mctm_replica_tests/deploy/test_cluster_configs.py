"""deploy/ecs/dagster.yaml and deploy/k8s/values.yaml against the integrations' own schemas.

Marked ``deploy_check``: needs the extra ``deploy-check`` (dagster-aws, dagster-k8s), which
``.ci/run`` installs; without it the tests fail under ``CI=true`` and are skipped elsewhere.

What is validated: the ECS instance file as a whole through Dagster's instance schema and
its run launcher and coordinator through their classes' own config schemas; for Kubernetes,
the run launcher section as the K8sRunLauncher config the chart renders from it, and every
Kubernetes object in the values (resources, security contexts, secret references) against
the Kubernetes client's models, strictly. What is not: the values file against the Helm
chart's values.schema.json, which ships with the chart, not in any PyPI package (our
machines reach only PyPI); the chart's keys used here are listed in README "Deploying".
"""

from __future__ import annotations

import importlib
import os
import re
import shutil

import pytest
import yaml

from mctm_replica_tests.deploy import REPO_ROOT
from mctm_replica_tests.deploy.compose import command

pytestmark = pytest.mark.deploy_check

ECS = REPO_ROOT / "deploy" / "ecs" / "dagster.yaml"
K8S = REPO_ROOT / "deploy" / "k8s" / "values.yaml"
SECRET_VARIABLES = {"SQL_SERVER_MCTM_PASSWORD", "SQL_SERVER_VOIPDB_PASSWORD", "PG_PASSWORD",
                    "DAGSTER_PG_PASSWORD", "REPLICA_ALERT_URLS"}


@pytest.fixture(scope="module", autouse=True)
def integrations():
    missing = [m for m in ("dagster_aws", "dagster_k8s") if importlib.util.find_spec(m) is None]
    if missing:
        message = (f"deploy-check tier: {', '.join(missing)} not installed; "
                   f"pip install -e '.[deploy-check]' (`make test EXTRAS=dev,deploy-check`)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def _validate(klass_path: tuple[str, str], config: dict):
    from dagster._config import process_config, resolve_to_config_type

    klass = getattr(importlib.import_module(klass_path[0]), klass_path[1])
    return process_config(resolve_to_config_type(klass.config_type()), config)


def _env_example_names() -> set[str]:
    text = (REPO_ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.M))


# -- ECS -----------------------------------------------------------------------------------


@pytest.fixture
def pg_env(monkeypatch):
    for name, value in {"DAGSTER_PG_HOST": "dagster-pg.example.internal", "DAGSTER_PG_PORT": "5432",
                        "DAGSTER_PG_DB": "dagster", "DAGSTER_PG_USER": "dagster",
                        "DAGSTER_PG_PASSWORD": "not-a-real-password"}.items():
        monkeypatch.setenv(name, value)


def test_ecs_instance_validates_with_dagster_and_dagster_aws(tmp_path, pg_env):
    from dagster._core.instance.config import dagster_instance_config

    shutil.copyfile(ECS, tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))  # raises DagsterInvalidConfigError
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_aws.ecs", "EcsRunLauncher")
    result = _validate(("dagster_aws.ecs", "EcsRunLauncher"), launcher["config"])
    assert result.success, result.errors
    assert config["concurrency"]["runs"]["max_concurrent_runs"] >= 1  # the run queue
    # The validation can fail: a misspelt launcher key is refused.
    bad = {**launcher["config"], "use_current_ecs_task_conf": True}
    assert not _validate(("dagster_aws.ecs", "EcsRunLauncher"), bad).success


def test_ecs_instance_keeps_the_single_host_storage_and_passes_every_setting(pg_env):
    base = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    ecs = yaml.safe_load(ECS.read_text())
    base_db = base["storage"]["postgres"]["postgres_db"]
    ecs_db = {k: v for k, v in ecs["storage"]["postgres"]["postgres_db"].items() if k != "params"}
    assert ecs_db == base_db
    # Instance-wide settings of dagster.yaml (pools, run monitoring, retention...) hold on ECS
    # too: each is contained in the ECS file's section (which may add to it).
    for section in set(base) - {"storage", "run_launcher"}:
        assert _contains(ecs.get(section), base[section]), \
            f"deploy/ecs/dagster.yaml does not carry dagster.yaml's `{section}`: {base[section]}"
    # Every non-secret .env variable reaches the run tasks; the secrets come from Secrets Manager.
    passed = set(ecs["run_launcher"]["config"]["env_vars"])
    expected = {n for n in _env_example_names() if n.startswith(("SQL_SERVER_", "PG_", "DAGSTER_PG_"))
                or n == "DAGSTER_WEBSERVER_URL"} - SECRET_VARIABLES
    assert expected <= passed, expected - passed
    assert not passed & SECRET_VARIABLES
    assert ecs_db["password"] == {"env": "DAGSTER_PG_PASSWORD"}  # from the task's secrets, never inline


def _contains(bigger: object, smaller: object) -> bool:
    if isinstance(smaller, dict):
        return isinstance(bigger, dict) and all(_contains(bigger.get(k), v) for k, v in smaller.items())
    return bigger == smaller


# -- Kubernetes ----------------------------------------------------------------------------

# The chart's camelCase run launcher keys used in values.yaml -> K8sRunLauncher's config.
CHART_TO_LAUNCHER = {"imagePullPolicy": "image_pull_policy", "envSecrets": "env_secrets",
                     "resources": "resources", "securityContext": "security_context",
                     "failPodOnRunFailure": "fail_pod_on_run_failure"}


def _check_k8s(model_name: str, data: object, where: str) -> None:
    """``data`` as Kubernetes JSON for ``model_name``: unknown keys anywhere are errors."""
    import kubernetes.client as k8s

    model = getattr(k8s, model_name)
    assert isinstance(data, dict), f"{where}: expected an object for {model_name}"
    attr_of = {json_key: attr for attr, json_key in model.attribute_map.items()}
    for key, value in data.items():
        assert key in attr_of, f"{where}.{key}: not a field of {model_name}"
        kind = model.openapi_types[attr_of[key]]
        if kind.startswith("V1") and isinstance(value, dict):
            _check_k8s(kind, value, f"{where}.{key}")
        elif (m := re.fullmatch(r"list\[(V1\w+)\]", kind)) and isinstance(value, list):
            for i, item in enumerate(value):
                _check_k8s(m.group(1), item, f"{where}.{key}[{i}]")


def test_k8s_run_launcher_section_validates_as_dagster_k8s_config():
    values = yaml.safe_load(K8S.read_text())
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    chart = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert set(chart) <= set(CHART_TO_LAUNCHER), set(chart) - set(CHART_TO_LAUNCHER)
    config = {CHART_TO_LAUNCHER[k]: v for k, v in chart.items()}
    config["env_secrets"] = [s["name"] for s in chart["envSecrets"]]
    # What the chart itself adds to the launcher's config.
    config |= {"dagster_home": "/opt/dagster/dagster_home", "instance_config_map": "mctm-replica-instance",
               "postgres_password_secret": values["global"]["postgresqlSecretName"],
               "service_account_name": values["global"]["serviceAccountName"],
               "job_namespace": "mctm-replica", "load_incluster_config": True}
    result = _validate(("dagster_k8s", "K8sRunLauncher"), config)
    assert result.success, result.errors
    assert not _validate(("dagster_k8s", "K8sRunLauncher"), {**config, "imagePullPolicy": "x"}).success
    _check_k8s("V1ResourceRequirements", chart["resources"], "runLauncher...resources")
    _check_k8s("V1SecurityContext", chart["securityContext"], "runLauncher...securityContext")


def test_k8s_user_deployment_runs_this_image_as_compose_does():
    values = yaml.safe_load(K8S.read_text())
    deployments = values["dagster-user-deployments"]["deployments"]
    assert len(deployments) == 1
    d = deployments[0]
    _check_k8s("V1ResourceRequirements", d["resources"], "deployment.resources")
    _check_k8s("V1SecurityContext", d["securityContext"], "deployment.securityContext")
    _check_k8s("V1PodSecurityContext", d["podSecurityContext"], "deployment.podSecurityContext")
    for i, ref in enumerate(d["envSecrets"]):
        _check_k8s("V1SecretEnvSource", ref, f"deployment.envSecrets[{i}]")
    # The chart runs `dagster code-server start -h 0.0.0.0 -p <port> <codeServerArgs>`: the
    # same module as compose's code server (the location name is the deployment's).
    compose = command("code-server", {})
    m = compose.index("-m")
    assert d["codeServerArgs"] == compose[m:m + 2]
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", d["name"])  # a Kubernetes name
    # Non-root, as the image: the Dockerfile's USER.
    user = re.search(r"^USER (\d+)", (REPO_ROOT / "Dockerfile").read_text(), flags=re.M).group(1)
    assert d["podSecurityContext"]["runAsUser"] == int(user)
    assert values["runLauncher"]["config"]["k8sRunLauncher"]["securityContext"]["runAsUser"] == int(user)
    assert values["postgresql"]["enabled"] is False and values["generatePostgresqlPasswordSecret"] is False
    assert values["dagsterWebserver"]["enableReadOnly"] is True


def test_k8s_strict_model_check_can_fail():
    with pytest.raises(AssertionError, match="runAsUsr"):
        _check_k8s("V1SecurityContext", {"runAsUsr": 1}, "x")
