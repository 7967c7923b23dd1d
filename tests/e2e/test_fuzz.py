"""The API contract under fuzzing: schemathesis generates requests from `/openapi.json`
(valid and invalid ones) against a live gateway process, in dev mode and with keys, and
every answer must be a documented status with a body that fits the schema: no 5xx. Only
"valid data must be accepted" is not asked: a schema cannot say that an upload must be a
real image, or that `from` must not be after `to`.

The gateway has a topic prefix and data dir of its own (with the sample avatar), so jobs
the fuzzer starts wait in `queued` and touch nothing of the other tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from cli.stack import Stack
from core.store import MediaStore
from processors.avatars import ensure_sample_avatar
from streamer.auth import key_hash
from tests.e2e.gateway_util import extra_gateway

EXAMPLES = 5  # per operation and mode
KEY = "fuzz-key-" + "k" * 24
MODES = {"dev": {"AVATAR_DEV_MODE": "1"},
         "keys": {"AVATAR_API_KEYS": key_hash(KEY), "AVATAR_RATE_PER_S": "100000", "AVATAR_RATE_BURST": "100000",
                  "AVATAR_AUTH_FAILURES_MAX": "0"}}


@pytest.fixture(scope="module", params=sorted(MODES))
def gateway(request: pytest.FixtureRequest, stack: Stack, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[str, dict[str, str]]]:
    data_dir = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    ensure_sample_avatar(MediaStore(data_dir))
    env = {"AVATAR_TOPIC_PREFIX": f"fuzz{uuid.uuid4().hex[:8]}", "AVATAR_DATA_DIR": str(data_dir),
           "AVATAR_EXPECTED_STAGES": "", **MODES[request.param]}
    headers = {"Authorization": f"Bearer {KEY}"} if request.param == "keys" else {}
    with extra_gateway(stack, f"gateway-fuzz-{request.param}", env) as url:
        yield url, headers


def _describe(exc: BaseException) -> str:
    parts = [f"{type(exc).__name__}: {exc}"]
    for inner in getattr(exc, "exceptions", ()):
        parts.append(_describe(inner))
    return "\n".join(parts)


def test_every_answer_is_documented_and_no_5xx(gateway: tuple[str, dict[str, str]]) -> None:
    """Each operation with valid and with invalid inputs; every failure is collected, so one
    run shows them all."""
    url, headers = gateway
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", headers=headers)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            def run(case: schemathesis.Case) -> None:
                case.call_and_validate(base_url=url, headers=headers, excluded_checks=[positive_data_acceptance])
            try:
                run()
            except Unsatisfiable:  # no invalid input exists for an operation without inputs
                assert mode is GenerationMode.NEGATIVE and not operation.path_parameters and not operation.query
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected, reported together
                failures.append(f"{operation.label} ({mode}): {_describe(exc)[:2000]}")
        operations += 1
    assert operations >= 17, operations  # every documented operation was tried
    assert not failures, "\n\n".join(failures)
