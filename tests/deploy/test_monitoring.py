"""The monitoring that ships with the deployment: Prometheus's config checked by Debian's
`promtool`, compose wiring it to the gateway and the workers, and a Grafana dashboard that
asks only for metrics the code exports (tests/e2e/test_prometheus.py runs its queries)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from processors.metrics import WorkerMetrics
from processors.settings import WorkerSettings
from streamer.jobs import JobBoard
from streamer.metrics import GatewayMetrics
from streamer.workers import WorkerBoard
from tests.deploy._facts import K8S, ROOT
from tests.deploy.test_compose import _resolved

PROMETHEUS_YML = ROOT / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "avatar-stream.json"
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"
OURS = re.compile(r"\bavatar_stream_\w+")


def dashboard_queries() -> list[str]:
    return [t["expr"] for panel in json.loads(DASHBOARD.read_text())["panels"] for t in panel["targets"]]


def exported_series() -> dict[str, str]:
    """Every series name our registries expose -> the family it belongs to."""
    out: dict[str, str] = {}
    for registry in (WorkerMetrics().registry, GatewayMetrics(JobBoard(), WorkerBoard()).registry):
        for family in registry.collect():
            if family.name.startswith("avatar_stream_"):
                suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
                for suffix in suffixes.get(family.type, [""]):
                    out[family.name + suffix] = family.name
    return out


def _mounts(service: dict) -> dict[str, str]:
    """target -> source of a resolved service's volumes (`source:target[:mode]`)."""
    out = {}
    for volume in service["volumes"]:
        source, target = volume.split(":")[:2] if isinstance(volume, str) else (volume["source"], volume["target"])
        out[target] = source
    return out


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.fail("promtool is missing: run deploy/setup-debian.sh (Debian's prometheus package)")
    return subprocess.run([exe, *args], capture_output=True, text=True, check=False, timeout=60)


def _checkable(tmp_path: Path, text: str) -> Path:
    """The config with its key file where this machine has it (compose mounts it in place)."""
    key = ROOT / "deploy" / "prometheus" / "metrics-key"
    path = tmp_path / "prometheus.yml"
    path.write_text(text.replace("/etc/prometheus/metrics-key", str(key)))
    return path


def test_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    run = _promtool("check", "config", str(_checkable(tmp_path, PROMETHEUS_YML.read_text())))
    assert run.returncode == 0, run.stdout + run.stderr


def test_promtool_refuses_a_wrong_config(tmp_path: Path) -> None:
    wrong = PROMETHEUS_YML.read_text().replace("dns_sd_configs", "dns_sd_config")
    run = _promtool("check", "config", str(_checkable(tmp_path, wrong)))
    assert run.returncode != 0 and "dns_sd_config" in run.stdout + run.stderr


def test_compose_wires_prometheus_and_grafana() -> None:
    services = _resolved()
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    mounts = _mounts(services["prometheus"])
    assert mounts["/etc/prometheus/prometheus.yml"].endswith("deploy/prometheus/prometheus.yml")
    assert jobs["gateway"]["authorization"]["credentials_file"] in mounts
    gateway = services["gateway"]["command"]
    assert jobs["gateway"]["static_configs"][0]["targets"] == [f"gateway:{gateway[gateway.index('--port') + 1]}"]
    sd = jobs["worker"]["dns_sd_configs"][0]
    assert set(sd["names"]) == {"worker", "worker-gpu"} and sd["port"] == WorkerSettings().metrics_port
    grafana = _mounts(services["grafana"])
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "avatar-stream.yml").read_text())["providers"][0]
    assert grafana[provider["options"]["path"]].endswith("deploy/grafana/dashboards")
    assert grafana["/etc/grafana/provisioning"].endswith("deploy/grafana/provisioning")
    source = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())["datasources"][0]
    assert source["url"] == "http://prometheus:9090" and services["prometheus"]["ports"][0]["target"] == 9090


def test_dashboard_asks_for_what_the_code_exports() -> None:
    series = exported_series()
    asked = {name for query in dashboard_queries() for name in OURS.findall(query)}
    assert asked and not asked - set(series), f"not exported: {asked - set(series)}"
    families = set(series.values())
    assert {series[name] for name in asked} == families, f"no panel shows {families - {series[n] for n in asked}}"
    uids = {t["datasource"]["uid"] for p in json.loads(DASHBOARD.read_text())["panels"] for t in p["targets"]}
    source = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())["datasources"][0]
    assert uids == {source["uid"]}


def test_k8s_workers_announce_their_metrics_port() -> None:
    port = WorkerSettings().metrics_port
    for path in sorted(K8S.rglob("*worker*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Deployment":
                template = doc["spec"]["template"]
                assert template["metadata"]["annotations"]["prometheus.io/port"] == str(port), path
                ports = template["spec"]["containers"][0]["ports"]
                assert {"name": "metrics", "containerPort": port} in ports, path
