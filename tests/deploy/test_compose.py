"""docker-compose.yml and deploy/app/Dockerfile, checked by Debian's `docker-compose config`
(it validates against the Compose schema and resolves the file) and against the code."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from schemas.topics import MAX_RECORD_BYTES
from tests.deploy._facts import LIBRARY_ENV, ROOT, env_names_read, role_of

DOCKERFILE = ROOT / "deploy" / "app" / "Dockerfile"


def _compose(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose is missing: run deploy/setup-debian.sh")
    # a clean environment: the file's defaults, never the caller's keys
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return subprocess.run([exe, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False,
                          timeout=60)


def _resolved(*profile: str) -> dict:
    run = _compose(*profile, "config")
    assert run.returncode == 0, run.stderr
    return yaml.safe_load(run.stdout)["services"]


@pytest.mark.parametrize("profile", [(), ("--profile", "gpu")], ids=["cpu", "gpu"])
def test_compose_file_is_valid(profile: tuple[str, ...]) -> None:
    run = _compose(*profile, "config", "-q")
    assert run.returncode == 0, run.stderr


def test_compose_config_rejects_a_wrong_file(tmp_path: Path) -> None:
    """The check above means something: the same tool refuses a malformed GPU reservation."""
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  w:\n    image: x\n    deploy: {resources: {reservations: "
        "{devices: [{driver: nvidia, capabilities: gpu}]}}}\n")
    run = _compose("config", "-q", cwd=tmp_path)
    assert run.returncode != 0 and "capabilities" in run.stderr


def test_gpu_worker_reserves_an_nvidia_gpu_in_the_gpu_profile() -> None:
    services = _resolved("--profile", "gpu")
    gpu = services["worker-gpu"]
    assert gpu["profiles"] == ["gpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)
    assert gpu["command"][:3] == ["worker", "--stages", "lipsync"]
    assert gpu["environment"]["AVATAR_WAV2LIP_CHECKPOINT"].endswith(".pth")
    # another stage set, so another consumer group (see tests/deploy/test_k8s_wiring.py)
    assert gpu["environment"]["AVATAR_APP_ID"] != services["worker"]["environment"].get(
        "AVATAR_APP_ID", "avatar-stream")
    others = [name for name, s in services.items() if name != "worker-gpu" and "profiles" in s]
    assert others == [], "only the GPU worker is optional"


def test_every_service_has_a_health_check() -> None:
    services = _resolved("--profile", "gpu")
    for name, service in services.items():
        test = service.get("healthcheck", {}).get("test")
        assert test and test != ["NONE"] and not service["healthcheck"].get("disable"), name
    gateway = services["gateway"]
    port = gateway["command"][gateway["command"].index("--port") + 1]
    assert f"127.0.0.1:{port}/health" in " ".join(gateway["healthcheck"]["test"])
    for name in ("worker", "worker-gpu"):
        command = services[name]["command"]
        ready_file = command[command.index("--ready-file") + 1]
        assert services[name]["healthcheck"]["test"] == ["CMD", "test", "-f", ready_file], name
        assert not ready_file.startswith("/data"), "the media volume is shared by every worker"
    assert services["gateway"]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_app_services_set_only_variables_their_service_reads() -> None:
    for name, service in _resolved("--profile", "gpu").items():
        if "build" not in service:
            continue  # the broker's image, not ours
        role = role_of(service["command"])
        unknown = set(service.get("environment", {})) - env_names_read(role)
        assert not unknown, f"{name} ({role}) sets variables the code never reads: {unknown}"


def test_broker_takes_the_largest_record() -> None:
    kafka = _resolved()["kafka"]["environment"]
    assert int(kafka["KAFKA_MESSAGE_MAX_BYTES"]) >= MAX_RECORD_BYTES
    assert int(kafka["KAFKA_REPLICA_FETCH_MAX_BYTES"]) >= MAX_RECORD_BYTES
    assert kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_image_runs_as_a_non_root_user() -> None:
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE.read_text(), flags=re.MULTILINE)
    assert users, "the image must name its user"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert user.isdigit(), "numeric, so Kubernetes' runAsNonRoot can check it"


def test_image_sets_only_variables_something_reads() -> None:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    names = {m.split("=")[0] for line in re.findall(r"^ENV\s+(.*)$", text, flags=re.MULTILINE)
             for m in line.split()}
    readable = env_names_read("gateway") | env_names_read("worker") | LIBRARY_ENV
    assert names and not names - readable, names - readable
