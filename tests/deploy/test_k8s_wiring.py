"""deploy/k8s against the code: the variables each container sets are ones its service reads
and parse there, KEDA watches the consumer group and topics the workers really use, the
broker takes the largest record, secrets come from a Secret, and every pod is probed and
runs as the image's non-root user."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from processors.settings import WorkerSettings
from schemas.topics import MAX_RECORD_BYTES
from schemas.workers import STAGES
from streamer.settings import GatewaySettings
from tests.deploy._facts import (
    K8S,
    ROOT,
    container_env,
    env_names_read,
    load_yaml_documents,
    role_of,
    stage_input_topic_attr,
)

NAMESPACE = "avatar-stream"
SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD")


def _docs(*paths: Path) -> list[dict]:
    return [doc for path in paths for doc in load_yaml_documents(path)]


BASE = _docs(*sorted(K8S.glob("*.yaml")))
GPU = _docs(*sorted((K8S / "gpu").glob("*.yaml")))
CONFIG_MAPS = {d["metadata"]["name"]: d["data"] for d in BASE if d["kind"] == "ConfigMap"}


def _of(kind: str, docs: list[dict]) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _variant(gpu: bool) -> list[dict]:
    """What runs after `apply -f deploy/k8s/` (and `-f deploy/k8s/gpu/`): same names replace."""
    docs = {(d["kind"], d["metadata"]["name"]): d for d in BASE + (GPU if gpu else [])}
    return list(docs.values())


def _containers(docs: list[dict]) -> list[tuple[str, dict, dict]]:
    return [(name, d["spec"]["template"]["spec"], c) for name, d in _of("Deployment", docs).items()
            for c in d["spec"]["template"]["spec"]["containers"]]


def _env(container: dict) -> dict[str, object]:
    return container_env(container, CONFIG_MAPS)


def _settings_env(env: dict[str, object], tmp_path: Path | None = None) -> dict[str, str]:
    """The environment as the service would get it, secrets and mounted files stood in for."""
    out = {k: v if isinstance(v, str) else "stand-in" for k, v in env.items()}
    if "AVATAR_API_KEYS_FILE" in out:
        assert tmp_path is not None, "the gateway's key file needs a stand-in"
        (tmp_path / "hashes").write_text("0" * 64 + "\n")
        out["AVATAR_API_KEYS_FILE"] = str(tmp_path / "hashes")
    return out


def _stages(container: dict) -> tuple[str, ...]:
    return WorkerSettings.from_env(_settings_env(_env(container))).stages


ALL_CONTAINERS = _containers(BASE) + [(f"gpu/{n}", p, c) for n, p, c in _containers(GPU)]
IDS = [name for name, _, _ in ALL_CONTAINERS]


def test_the_code_facts_are_read() -> None:
    """The names the checks below compare with come from the settings modules."""
    assert {"KAFKA_BOOTSTRAP_SERVERS", "ELEVENLABS_API_KEY"} <= env_names_read("gateway")
    assert "AVATAR_WAV2LIP_CHECKPOINT" in env_names_read("worker") - env_names_read("gateway")
    assert "AVATAR_API_KEYS_FILE" in env_names_read("gateway") - env_names_read("worker")
    assert stage_input_topic_attr("lipsync") == "audio"


@pytest.mark.parametrize("name,pod,container", ALL_CONTAINERS, ids=IDS)
def test_containers_set_only_variables_their_service_reads(name: str, pod: dict, container: dict,
                                                           tmp_path: Path) -> None:
    role = role_of(container["args"])
    env = _env(container)
    unknown = set(env) - env_names_read(role)
    assert not unknown, f"{name} ({role}) sets variables the code never reads: {unknown}"
    settings_cls = GatewaySettings if role == "gateway" else WorkerSettings
    settings_cls.from_env(_settings_env(env, tmp_path))  # every value parses


@pytest.mark.parametrize("name,pod,container", ALL_CONTAINERS, ids=IDS)
def test_secrets_come_from_a_secret(name: str, pod: dict, container: dict) -> None:
    for item in container.get("env", []):
        if SECRET_NAME.search(item["name"]) and not item["name"].endswith("_FILE"):
            assert "value" not in item, f"{name}: {item['name']} inline"
            assert item["valueFrom"]["secretKeyRef"]["name"] == "avatar-stream-secrets"
    for volume in pod.get("volumes", []):
        if "secret" in volume:
            assert volume["secret"]["secretName"] == "avatar-stream-secrets"


def test_no_secret_values_in_the_repository() -> None:
    assert not _of("Secret", BASE + GPU)
    for config_map in CONFIG_MAPS.values():
        assert not [k for k in config_map if SECRET_NAME.search(k)]


@pytest.mark.parametrize("name,pod,container", ALL_CONTAINERS, ids=IDS)
def test_pods_run_as_the_images_non_root_user(name: str, pod: dict, container: dict) -> None:
    dockerfile = (ROOT / "deploy" / "app" / "Dockerfile").read_text()
    image_uid = int(re.findall(r"^USER\s+(\d+)", dockerfile, flags=re.MULTILINE)[-1])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == image_uid != 0
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"]
    if sc.get("readOnlyRootFilesystem"):
        home = re.search(r"\bHOME=(\S+)", dockerfile).group(1)
        numba = re.search(r"\bNUMBA_CACHE_DIR=(\S+)", dockerfile).group(1)
        writable = [m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")]
        for path in (home, numba, _env(container)["AVATAR_DATA_DIR"]):
            assert any(path == m or path.startswith(m + "/") for m in writable), f"{name}: {path}"


@pytest.mark.parametrize("name,pod,container", ALL_CONTAINERS, ids=IDS)
def test_every_container_is_probed(name: str, pod: dict, container: dict) -> None:
    assert {"readinessProbe", "livenessProbe"} <= set(container), name
    args = container["args"]
    if role_of(args) == "gateway":
        port = int(args[args.index("--port") + 1])
        assert container["ports"][0]["containerPort"] == port
        assert container["readinessProbe"]["httpGet"]["path"] == "/health"
        return
    ready_file = args[args.index("--ready-file") + 1]
    assert not ready_file.startswith("/data/"), "the media volume is shared by every worker"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["exec"]["command"] == ["test", "-f", ready_file], (name, probe)


@pytest.mark.parametrize("gpu", [False, True], ids=["cpu", "gpu"])
def test_every_stage_runs_in_exactly_one_deployment(gpu: bool) -> None:
    stages = [s for _, _, c in _containers(_variant(gpu)) if role_of(c["args"]) == "worker"
              for s in _stages(c)]
    assert sorted(stages) == sorted(STAGES)


@pytest.mark.parametrize("gpu", [False, True], ids=["cpu", "gpu"])
def test_each_stage_set_is_a_consumer_group_of_its_own(gpu: bool) -> None:
    """Faust members of one group must run the same stages (an app without tables takes
    another partition assignor), so a Deployment with other stages has another app id."""
    groups: dict[str, set[tuple[str, ...]]] = {}
    for _, _, c in _containers(_variant(gpu)):
        if role_of(c["args"]) == "worker":
            settings = WorkerSettings.from_env(_settings_env(_env(c)))
            groups.setdefault(settings.app_id, set()).add(tuple(sorted(settings.stages)))
    assert len(groups) == 2 and all(len(sets) == 1 for sets in groups.values()), groups


@pytest.mark.parametrize("gpu", [False, True], ids=["cpu", "gpu"])
def test_keda_watches_the_workers_group_and_input_topics(gpu: bool) -> None:
    docs = _variant(gpu)
    deployments = _of("Deployment", docs)
    app_src = (ROOT / "processors" / "app.py").read_text()
    assert 'consumer_auto_offset_reset="earliest"' in app_src
    scaled_objects = _of("ScaledObject", docs)
    workers = {n for n, _, c in _containers(docs) if role_of(c["args"]) == "worker"}
    assert {s["spec"]["scaleTargetRef"]["name"] for s in scaled_objects.values()} == workers
    for name, scaled in scaled_objects.items():
        (container,) = deployments[scaled["spec"]["scaleTargetRef"]["name"]]["spec"]["template"][
            "spec"]["containers"]
        settings = WorkerSettings.from_env(_settings_env(_env(container)))
        inputs = {getattr(settings.kafka.topics, stage_input_topic_attr(s)) for s in settings.stages}
        triggers = scaled["spec"]["triggers"]
        assert {t["type"] for t in triggers} == {"kafka"}
        assert {t["metadata"]["topic"] for t in triggers} == inputs, name
        for trigger in triggers:
            meta = trigger["metadata"]
            assert meta["consumerGroup"] == settings.app_id, name
            assert meta["bootstrapServers"] == settings.kafka.bootstrap_servers, name
            assert meta["offsetResetPolicy"] == "earliest", name
            assert int(meta["lagThreshold"]) > 0
        assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]
        assert scaled["spec"]["maxReplicaCount"] <= settings.kafka.partitions, "idle consumers"


def test_gpu_variant_asks_for_a_gpu_and_loads_wav2lip() -> None:
    (container,) = [c for _, _, c in _containers(GPU)]
    assert int(container["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    assert _env(container)["AVATAR_WAV2LIP_CHECKPOINT"].startswith(
        _env(container)["AVATAR_DATA_DIR"] + "/")
    assert _stages(container) == ("lipsync",)
    for name, _, base in _containers(BASE):
        assert "nvidia.com/gpu" not in base["resources"].get("limits", {}), name


def test_gateway_scales_on_cpu_behind_a_service() -> None:
    (hpa,) = _of("HorizontalPodAutoscaler", BASE).values()
    target = _of("Deployment", BASE)[hpa["spec"]["scaleTargetRef"]["name"]]
    (container,) = target["spec"]["template"]["spec"]["containers"]
    assert role_of(container["args"]) == "gateway"
    assert container["resources"]["requests"]["cpu"], "utilization needs a request"
    (service,) = _of("Service", BASE).values()
    assert service["spec"]["selector"] == target["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]


def test_kafka_is_strimzi_kraft_and_the_config_points_at_it() -> None:
    (kafka,) = _of("Kafka", BASE).values()
    pools = [p for p in _of("KafkaNodePool", BASE).values()
             if p["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]]
    assert kafka["metadata"]["annotations"]["strimzi.io/node-pools"] == "enabled"
    assert {"controller", "broker"} <= {r for p in pools for r in p["spec"]["roles"]}
    (plain,) = [x for x in kafka["spec"]["kafka"]["listeners"] if not x["tls"]]
    bootstrap = f"{kafka['metadata']['name']}-kafka-bootstrap.{NAMESPACE}.svc:{plain['port']}"
    assert CONFIG_MAPS["avatar-stream-config"]["KAFKA_BOOTSTRAP_SERVERS"] == bootstrap
    config = kafka["spec"]["kafka"]["config"]
    assert config["message.max.bytes"] >= MAX_RECORD_BYTES
    assert config["replica.fetch.max.bytes"] >= MAX_RECORD_BYTES
    assert config["auto.create.topics.enable"] is False
    assert "min.insync.replicas" not in config, "the services create their topics with one replica"


def test_everything_lives_in_one_namespace_and_references_resolve() -> None:
    (namespace,) = _of("Namespace", BASE)
    assert namespace == NAMESPACE
    claims = set(_of("PersistentVolumeClaim", BASE))
    for doc in BASE + GPU:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]["name"]
    for name, pod, container in _containers(BASE + GPU):
        for source in container.get("envFrom", []):
            assert source["configMapRef"]["name"] in CONFIG_MAPS, name
        for volume in pod["volumes"]:
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, name
