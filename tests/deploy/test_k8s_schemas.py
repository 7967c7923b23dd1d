"""Every resource in deploy/k8s checked against a schema: core kinds by kubernetes-validate's
bundled Kubernetes JSON schemas (strict: unknown fields fail), the operators' custom
resources by the openAPIV3Schema of the CRDs vendored in deploy/k8s/crds/, made strict the
same way (the API server would prune an unknown field without a word)."""

from __future__ import annotations

import copy
import re
from functools import cache
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest

from tests.deploy._facts import CRDS, K8S, k8s_manifest_files, load_yaml_documents

# the oldest Kubernetes the manifests claim (deploy/README.md) and the newest the tool knows
K8S_VERSIONS = ("1.29.0", kubernetes_validate.utils.latest_version())
CRD_FILES = ("keda-scaledobject.yaml", "strimzi-kafka.yaml", "strimzi-kafkanodepool.yaml")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _strict(schema: dict) -> dict:
    """The schema with every object closed to properties it does not name."""
    schema = copy.deepcopy(schema)

    def close(node: object) -> None:
        if isinstance(node, dict):
            if ("properties" in node and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return schema


@cache
def _crd_validators() -> dict[tuple[str, str], jsonschema.Validator]:
    """(apiVersion, kind) -> a validator for that custom resource."""
    validators = {}
    for name in CRD_FILES:
        (crd,) = load_yaml_documents(CRDS / name)
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version["served"]:
                schema = _strict(version["schema"]["openAPIV3Schema"])
                validators[(f"{group}/{version['name']}", kind)] = jsonschema.Draft7Validator(schema)
    return validators


def _resources() -> list[tuple[str, dict]]:
    return [(f"{path.relative_to(K8S)}:{doc['kind']}/{doc['metadata']['name']}", doc)
            for path in k8s_manifest_files() for doc in load_yaml_documents(path)]


def _crd_errors(resource: dict) -> list[str]:
    validator = _crd_validators()[(resource["apiVersion"], resource["kind"])]
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(resource)]


def test_manifests_exist() -> None:
    kinds = {doc["kind"] for _, doc in _resources()}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "ConfigMap", "ScaledObject",
            "Kafka", "KafkaNodePool"} <= kinds


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("where,resource", _resources(), ids=lambda v: v if isinstance(v, str) else "")
def test_resource_matches_its_schema(where: str, resource: dict, version: str) -> None:
    meta = resource["metadata"]
    assert DNS_LABEL.match(meta["name"]) and len(meta["name"]) <= 63, where
    if (resource["apiVersion"], resource["kind"]) in _crd_validators():
        assert _crd_errors(resource) == [], where
        return
    try:
        kubernetes_validate.validate(resource, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{where}: {'/'.join(map(str, exc.path))}: {exc.message}")


def test_vendored_crds_are_the_operators_own() -> None:
    keys = set(_crd_validators())
    assert keys == {("keda.sh/v1alpha1", "ScaledObject"), ("kafka.strimzi.io/v1beta2", "Kafka"),
                    ("kafka.strimzi.io/v1beta2", "KafkaNodePool")}
    for name in CRD_FILES:
        (crd,) = load_yaml_documents(CRDS / name)
        assert crd["kind"] == "CustomResourceDefinition"
        assert crd["metadata"]["name"] == f"{crd['spec']['names']['plural']}.{crd['spec']['group']}"


def _first(kind: str, path: Path = K8S / "50-worker.yaml") -> dict:
    return copy.deepcopy(next(d for d in load_yaml_documents(path) if d["kind"] == kind))


def test_crd_check_catches_a_misspelt_field() -> None:
    scaled = _first("ScaledObject")
    scaled["spec"]["minReplicas"] = scaled["spec"].pop("minReplicaCount")
    assert any("minReplicas" in e for e in _crd_errors(scaled))


def test_crd_check_catches_a_wrong_type_and_a_missing_field() -> None:
    pool = _first("KafkaNodePool", K8S / "20-kafka.yaml")
    pool["spec"]["replicas"] = "three"
    kafka = _first("Kafka", K8S / "20-kafka.yaml")
    del kafka["spec"]["kafka"]["listeners"]
    assert any("replicas" in e for e in _crd_errors(pool))
    assert any("listeners" in e for e in _crd_errors(kafka))


def test_core_check_catches_a_misspelt_field() -> None:
    deployment = _first("Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[0], strict=True)
