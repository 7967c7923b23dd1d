"""What the code says the deployment must match: the environment variables each service
reads, the topic each stage consumes, the workers' consumer group. Read from the sources, so
that a renamed setting or topic breaks these tests instead of a deployment."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
CRDS = K8S / "crds"

# each service's settings modules (STYLE.md: every service reads its environment in one place)
SETTINGS_MODULES = {
    "gateway": ("core/settings.py", "streamer/settings.py"),
    "worker": ("core/settings.py", "processors/settings.py"),
}
# read by libraries or the interpreter, not by our settings; set in the image only
LIBRARY_ENV = frozenset({"HOME", "NUMBA_CACHE_DIR", "PYTHONUNBUFFERED"})

_ENV_READ = re.compile(r"""env(?:iron)?\.get\(\s*["']([A-Z][A-Z0-9_]*)["']""")
_AGENT = re.compile(r"ctx\.app\.agent\(\s*ctx\.topics\.(\w+)")


def env_names_read(role: str) -> frozenset[str]:
    """Every variable name `role`'s settings modules look up."""
    names: set[str] = set()
    for module in SETTINGS_MODULES[role]:
        names.update(_ENV_READ.findall((ROOT / module).read_text()))
    assert names, f"found no environment reads in {SETTINGS_MODULES[role]}"
    return frozenset(names)


def stage_input_topic_attr(stage: str) -> str:
    """The TopicNames attribute (`requests`, `audio`, ...) whose topic `stage`'s agent consumes."""
    found = _AGENT.findall((ROOT / "processors" / f"{stage}.py").read_text())
    assert len(found) == 1, f"processors/{stage}.py: expected one agent, found {found}"
    return found[0]


def load_yaml_documents(path: Path) -> list[dict]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open() as f:
        return [doc for doc in yaml.load_all(f, Loader=loader) if doc]


def k8s_manifest_files() -> list[Path]:
    """What `kubectl apply -f deploy/k8s/` and `-f deploy/k8s/gpu/` apply (not the vendored CRDs)."""
    return sorted(K8S.glob("*.yaml")) + sorted((K8S / "gpu").glob("*.yaml"))


def container_env(container: dict, config_maps: dict[str, dict[str, str]]) -> dict[str, object]:
    """Name -> value (a string, or the `valueFrom` mapping) as the container will see them."""
    env: dict[str, object] = {}
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]])
    for item in container.get("env", []):
        env[item["name"]] = item["value"] if "value" in item else item["valueFrom"]
    return env


def role_of(args: list[str]) -> str:
    """`gateway` or `worker`, from the avatar-stream subcommand a container runs."""
    assert args and args[0] in SETTINGS_MODULES, f"unexpected command {args}"
    return args[0]
