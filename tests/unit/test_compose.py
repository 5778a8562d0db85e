"""docker-compose.yml against the code (Docker is not available where this is built, so the file is checked by
parsing): every variable our services are given is one the code reads, dependencies name real services and
wait for the health checks that exist, the UI reaches the codec server where it listens, and the codec
server holds its keyring and nothing else."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML is in the dev extras (pip install -e '.[dev]')")

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENGINE_CODE = [
    p
    for d in ("client", "cli", "store", "security", "observability", "activities", "api", "domain")
    for p in sorted((ROOT / d).rglob("*.py"))
] + [ROOT / f for f in ("worker.py", "starter.py", "codec_server.py", "audit_cli.py")]
# What `python codec_server.py` runs: itself, the codec and the key policy (nothing else reads variables).
CODEC_SERVER_CODE = [ROOT / "codec_server.py", ROOT / "security" / "codec.py", ROOT / "security" / "keys.py"]
ENV_OBJECTS = {"os.environ", "env", "environ"}
# The variables each third-party image documents (ours are checked against the code instead).
IMAGE_VARIABLES = {
    "postgres": {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"},
    "temporal": {"DB", "DB_PORT", "POSTGRES_USER", "POSTGRES_PWD", "POSTGRES_SEEDS", "DYNAMIC_CONFIG_FILE_PATH"},
    "temporal-ui": {
        "TEMPORAL_ADDRESS",
        "TEMPORAL_CODEC_ENDPOINT",
        "TEMPORAL_CODEC_INCLUDE_CREDENTIALS",
        "TEMPORAL_CODEC_PASS_ACCESS_TOKEN",
    },
    "mailpit": set(),
}
SIGNING_AND_ENGINE_SECRETS = {"TDKT_AUTH_KEYS", "TDKT_AUTH_KEY_ID", "DATABASE_URL"}


def variables_read(files: list[Path]) -> set[str]:
    """Environment variable names the code reads: `environ.get("X")`, `env["X"]`, helpers given the environment
    and a name (`_positive_int(env, "X")`), names held in module constants (`KEYS_ENV = "X"`), and the keys of
    a `*_VARIABLES` table."""
    found: set[str] = set()
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            for target in node.targets
            if isinstance(target, ast.Name)
        }

        def name_of(expr: ast.expr, constants: dict[str, str] = constants) -> str | None:
            if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
                return expr.value
            if isinstance(expr, ast.Name):
                return constants.get(expr.id)
            return None

        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Attribute) and func.attr == "get" and ast.unparse(func.value) in ENV_OBJECTS:
                    found |= {n for n in map(name_of, node.args[:1]) if n}
                if any(isinstance(a, ast.Name) and a.id in ENV_OBJECTS for a in node.args):
                    found |= {n for n in map(name_of, node.args) if n}
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) in ENV_OBJECTS:
                if (n := name_of(node.slice)) is not None:
                    found.add(n)
            elif isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Dict):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id.endswith("_VARIABLES") for t in targets):
                    found |= {n for n in map(name_of, [k for k in node.value.keys if k is not None]) if n}
    return {n for n in found if re.fullmatch(r"[A-Z][A-Z0-9_]+", n)}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): str(v) for k, v in env.items()}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Target -> condition (service_started for the short list form)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def ours(services: dict[str, dict[str, Any]]) -> list[str]:
    return [name for name, s in services.items() if "build" in s]


def published(service: dict[str, Any]) -> dict[int, int]:
    """Host port -> container port."""
    mapped = {}
    for entry in service.get("ports", []):
        host, _, container = str(entry).rpartition(":")
        mapped[int(host)] = int(container)
    return mapped


def option(service: dict[str, Any], flag: str) -> str:
    command = list(service["command"])
    return str(command[command.index(flag) + 1])


def test_the_variable_scan_finds_what_the_code_reads() -> None:
    read = variables_read(ENGINE_CODE)
    expected = {
        "TEMPORAL_ADDRESS",
        "DATABASE_URL",
        "TDKT_CODEC_KEYS",
        "TDKT_CODEC_TOKEN",
        "TDKT_AUTH_KEYS",
        "SMTP_HOST",
        "DB_POOL_SIZE",
        "TDKT_MAX_CACHED_WORKFLOWS",
    }
    assert expected <= read, expected - read
    assert variables_read(CODEC_SERVER_CODE) == {
        "TDKT_CODEC_KEYS",
        "TDKT_CODEC_KEY_ID",
        "TDKT_CODEC_KEY_FILE",
        "TDKT_CODEC_TOKEN",
        "TDKT_CODEC_UI_ORIGINS",
        "TDKT_GENERATE_KEYS",
        "TDKT_ALLOW_DEV_KEYS",
    }


def test_every_variable_given_to_a_service_is_one_it_reads(services: dict[str, dict[str, Any]]) -> None:
    engine_reads = variables_read(ENGINE_CODE)
    codec_reads = variables_read(CODEC_SERVER_CODE)
    assert set(ours(services)) == {"worker", "api", "codec-server"}
    for name, service in services.items():
        given = set(environment(service))
        if name == "codec-server":
            known = codec_reads
        elif name in ours(services):
            known = engine_reads
        else:
            known = IMAGE_VARIABLES[name]
        assert given <= known, f"{name}: {sorted(given - known)} are read by nothing"


def test_dependencies_exist_and_wait_for_health(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for target, condition in depends_on(service).items():
            assert target in services, f"{name} depends on {target}, which is not a service"
            assert condition in {"service_started", "service_healthy", "service_completed_successfully"}
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target} to be healthy; it has no check"
    for name in ("worker", "api", "temporal-ui"):
        assert depends_on(services[name]).get("temporal") == "service_healthy", name
    assert depends_on(services["codec-server"]), "the codec server has no depends_on"
    assert depends_on(services["temporal"]).get("postgres") == "service_healthy"


def test_temporal_and_the_api_have_health_checks(services: dict[str, dict[str, Any]]) -> None:
    temporal_check = " ".join(services["temporal"]["healthcheck"]["test"])
    # The auto-setup image ships tctl; the server answers on its service address, not 127.0.0.1.
    assert "tctl --address temporal:7233 cluster health" in temporal_check
    api = services["api"]
    api_check = " ".join(api["healthcheck"]["test"])
    url = re.search(r"http://[^'\" ]+", api_check)
    assert url is not None, api_check
    parts = urlsplit(url.group(0))
    assert parts.port == int(option(api, "--port")) and parts.path in {"/openapi.json", "/docs"}


def test_the_ui_reaches_the_codec_server_where_it_listens(services: dict[str, dict[str, Any]]) -> None:
    ui, codec = services["temporal-ui"], services["codec-server"]
    endpoint = urlsplit(environment(ui)["TEMPORAL_CODEC_ENDPOINT"])
    # The browser calls the codec endpoint: a port published on the host, mapped to the one the server binds.
    assert endpoint.hostname == "localhost" and endpoint.port is not None
    assert published(codec).get(endpoint.port) == int(option(codec, "--port"))
    assert option(codec, "--host") == "0.0.0.0"
    # And the codec server admits the UI's origin (the host port the UI is published on).
    ui_ports = [host for host, container in published(ui).items() if container == 8080]
    origins = environment(codec)["TDKT_CODEC_UI_ORIGINS"].split(",")
    assert [f"http://localhost:{p}" for p in ui_ports] == [o.strip() for o in origins]
    assert "TEMPORAL_CORS_ORIGINS" not in environment(ui)


def test_the_codec_server_holds_its_keyring_and_nothing_else(services: dict[str, dict[str, Any]]) -> None:
    codec_env = environment(services["codec-server"])
    assert not SIGNING_AND_ENGINE_SECRETS & set(codec_env), sorted(SIGNING_AND_ENGINE_SECRETS & set(codec_env))
    assert len(codec_env["TDKT_CODEC_TOKEN"]) >= 16
    # The same keyring as the worker and the API, or it decrypts nothing they wrote.
    for name in ("worker", "api"):
        env = environment(services[name])
        assert env["TDKT_CODEC_KEYS"] == codec_env["TDKT_CODEC_KEYS"], name
        assert env["TDKT_CODEC_KEY_ID"] == codec_env["TDKT_CODEC_KEY_ID"], name
    # No service holds a ballot key: each session's key is split among its counting committee.
    assert not any("BALLOT" in variable for s in services.values() for variable in environment(s))


def test_the_header_comment_lists_every_service(services: dict[str, dict[str, Any]]) -> None:
    header = []
    for line in COMPOSE.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    listed = {m.group(1) for line in header if (m := re.match(r"#\s{2,}([a-z][a-z0-9-]*)\s{2,}\S", line))}
    assert listed == set(services), f"missing: {set(services) - listed}, unknown: {listed - set(services)}"
