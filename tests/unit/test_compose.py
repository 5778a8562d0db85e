"""docker-compose.yml against the code and against Temporal's documented layout (Docker is not available where
this is built, so the file is checked by parsing; `docker compose config` also runs where the plugin exists):
every variable our services are given is one the code reads, dependencies name real services and wait for the
health checks that exist, the UI reaches the codec server where it listens, and the codec server holds its
keyring and nothing else. Temporal's part is Temporal's own for PostgreSQL: temporalio/admin-tools sets up the
schema with temporal-sql-tool, temporalio/server runs on it with a dynamic-config file, the `temporal` CLI
checks the cluster's health, the UI is current (the versions of the dev server `make up` runs); Prometheus
scrapes the worker and the API, Grafana is provisioned with a dashboard of the engine's series."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
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
TEMPORAL_DB = {"DB", "DB_PORT", "POSTGRES_USER", "POSTGRES_PWD", "POSTGRES_SEEDS"}
# The variables each third-party image documents, or the mounted script it runs reads (ours are checked
# against the code instead).
IMAGE_VARIABLES = {
    "postgres": {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"},
    "temporal-schema": TEMPORAL_DB,
    "temporal": TEMPORAL_DB | {"BIND_ON_IP", "DYNAMIC_CONFIG_FILE_PATH"},
    "temporal-admin-tools": {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "NAMESPACE_RETENTION"},
    "temporal-ui": {
        "TEMPORAL_ADDRESS",
        "TEMPORAL_CODEC_ENDPOINT",
        "TEMPORAL_CODEC_INCLUDE_CREDENTIALS",
        "TEMPORAL_CODEC_PASS_ACCESS_TOKEN",
    },
    "mailpit": set(),
    "prometheus": set(),
    "grafana": {
        "GF_SECURITY_ADMIN_USER",
        "GF_SECURITY_ADMIN_PASSWORD",
        "GF_USERS_ALLOW_SIGN_UP",
        "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH",
    },
}
# Temporal's documented services for PostgreSQL (its compose files: schema setup from admin-tools, the server,
# the CLI making the namespace, the UI) as this file names them, and the images each runs.
TEMPORAL_IMAGES = {
    "temporal-schema": "temporalio/admin-tools",
    "temporal": "temporalio/server",
    "temporal-admin-tools": "temporalio/admin-tools",
    "temporal-ui": "temporalio/ui",
}
SCHEMA_DIR = "/etc/temporal/schema/postgresql/v12"
# Read by the SDK's environment configuration (temporalio.envconfig), through which the engine connects
# (client/settings.py): the connection's variables are the SDK's, not names in our code.
ENVCONFIG_VARIABLES = {
    "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "TEMPORAL_API_KEY",
    "TEMPORAL_TLS",
    "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "TEMPORAL_TLS_SERVER_NAME",
    "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION",
    "TEMPORAL_CONFIG_FILE",
    "TEMPORAL_PROFILE",
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
        "DATABASE_URL",
        "TDKT_CODEC_KEYS",
        "TDKT_CODEC_TOKEN",
        "TDKT_AUTH_KEYS",
        "SMTP_HOST",
        "DB_POOL_SIZE",
        "TDKT_MAX_CACHED_WORKFLOWS",
    }
    assert expected <= read, expected - read
    assert "temporalio.envconfig" in (ROOT / "client" / "settings.py").read_text(encoding="utf-8")
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
    engine_reads = variables_read(ENGINE_CODE) | ENVCONFIG_VARIABLES
    codec_reads = variables_read(CODEC_SERVER_CODE)
    assert set(ours(services)) == {"worker", "api", "codec-server", "migrations"}
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
    # The engine and the UI start on a cluster the `temporal` CLI finds healthy and serving the namespace.
    for name in ("worker", "api", "temporal-ui"):
        assert depends_on(services[name]).get("temporal") == "service_healthy", name
        assert depends_on(services[name]).get("temporal-admin-tools") == "service_healthy", name
    for name in ("worker", "api"):  # the engine's schema first
        assert depends_on(services[name]).get("migrations") == "service_completed_successfully", name
    assert depends_on(services["migrations"]).get("postgres") == "service_healthy"
    assert depends_on(services["codec-server"]), "the codec server has no depends_on"
    # Temporal's order: PostgreSQL healthy, its schema set up, then the server.
    assert depends_on(services["temporal-schema"]).get("postgres") == "service_healthy"
    assert depends_on(services["temporal"]).get("temporal-schema") == "service_completed_successfully"


def test_temporal_and_the_api_have_health_checks(services: dict[str, dict[str, Any]]) -> None:
    # The server image carries no client: its port answering is its check, the CLI's runs in admin-tools,
    # against the server's service address (not 127.0.0.1) and the namespace the engine uses.
    assert services["temporal"]["healthcheck"]["test"] == ["CMD", "nc", "-z", "127.0.0.1", "7233"]
    cli_check = " ".join(services["temporal-admin-tools"]["healthcheck"]["test"])
    assert "temporal operator cluster health --address temporal:7233" in cli_check
    namespace = environment(services["worker"])["TEMPORAL_NAMESPACE"]
    assert f"temporal operator namespace describe --namespace {namespace} --address temporal:7233" in cli_check
    assert environment(services["temporal-admin-tools"])["TEMPORAL_NAMESPACE"] == namespace
    assert "tctl" not in COMPOSE.read_text(encoding="utf-8")
    api = services["api"]
    api_check = " ".join(api["healthcheck"]["test"])
    url = re.search(r"http://[^'\" ]+", api_check)
    assert url is not None, api_check
    parts = urlsplit(url.group(0))
    assert parts.port == int(option(api, "--port")) and parts.path == "/readyz"


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


# ---- Temporal's own layout ------------------------------------------------------------------------------


def image(service: dict[str, Any]) -> tuple[str, str]:
    name, _, tag = str(service["image"]).partition(":")
    return name, tag


def mounted(service: dict[str, Any], target: str) -> Path:
    """The host path (in this repository) mounted at `target` in the service's container."""
    for volume in service.get("volumes", []):
        source, _, rest = str(volume).partition(":")
        if rest.split(":")[0] == target:
            return ROOT / source
    raise AssertionError(f"nothing is mounted at {target}")


def dev_server_versions() -> tuple[str, str] | None:
    """The server and UI versions of the dev server `make up` runs (`temporal --version`)."""
    binary = shutil.which("temporal") or str(ROOT / ".venv" / "bin" / "temporal")
    try:
        shown = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return None
    found = re.search(r"Server ([0-9.]+), UI ([0-9.]+)", shown)
    return (found.group(1), found.group(2)) if found else None


def test_temporal_runs_from_its_current_images(services: dict[str, dict[str, Any]]) -> None:
    for name, expected in TEMPORAL_IMAGES.items():
        assert image(services[name])[0] == expected, name
    assert not any(image(s)[0] == "temporalio/auto-setup" for s in services.values() if "image" in s)
    server = image(services["temporal"])[1]
    assert image(services["temporal-schema"])[1] == image(services["temporal-admin-tools"])[1] == server
    versions = dev_server_versions()
    if versions is None:
        pytest.skip("no `temporal` CLI to read the dev server's versions from")
    assert (server, image(services["temporal-ui"])[1]) == versions


def test_the_schema_is_set_up_as_temporal_documents(services: dict[str, dict[str, Any]]) -> None:
    setup = services["temporal-schema"]
    script_path = mounted(setup, "/setup/setup-postgres.sh")
    assert setup["command"] == ["/setup/setup-postgres.sh"] and setup["entrypoint"] == ["/bin/sh"]
    script = script_path.read_text(encoding="utf-8")
    # The plugin the server's DB variable names; each database created, its version table set up, then
    # every versioned schema file applied.
    assert environment(setup)["DB"] == environment(services["temporal"])["DB"] == "postgres12"
    assert "temporal-sql-tool --plugin postgres12" in script
    for database, folder in (("temporal", "temporal"), ("temporal_visibility", "visibility")):
        assert f'"{database}:{folder}"' in script
    for step in ("create || echo", "setup-schema -v 0.0", 'update-schema -d "$schema/$dir/versioned"'):
        assert step in script, step
    assert f"schema={SCHEMA_DIR}" in script
    assert subprocess.run(["sh", "-n", str(script_path)]).returncode == 0
    assert environment(setup) == {k: environment(services["temporal"])[k] for k in TEMPORAL_DB}


def test_the_scripts_read_the_variables_they_are_given(services: dict[str, dict[str, Any]]) -> None:
    for name, target in (
        ("temporal-schema", "/setup/setup-postgres.sh"),
        ("temporal-admin-tools", "/setup/admin-tools.sh"),
    ):
        script_path = mounted(services[name], target)
        script = script_path.read_text(encoding="utf-8")
        read = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", script))
        given = set(environment(services[name]))
        assert given - {"DB"} <= read, f"{name}: {sorted(given - read)} given but not read by {target}"
        assert subprocess.run(["sh", "-n", str(script_path)]).returncode == 0


def test_the_dynamic_config_file_is_where_the_server_reads_it(services: dict[str, dict[str, Any]]) -> None:
    temporal = services["temporal"]
    relative = environment(temporal)["DYNAMIC_CONFIG_FILE_PATH"]  # relative to the image's /etc/temporal
    folder, _, file_name = f"/etc/temporal/{relative}".rpartition("/")
    config_path = mounted(temporal, folder) / file_name
    assert config_path.relative_to(ROOT).parts[:3] == ("docker", "temporal", "dynamicconfig")
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    assert config and all(isinstance(values, list) and values for values in config.values())
    for key, values in config.items():
        assert re.fullmatch(r"[a-z]+(\.[A-Za-z]+)+", key), key
        for value in values:
            assert set(value) == {"value", "constraints"}, key
    assert config["limit.maxIDLength"][0]["value"] >= 200  # nomination and session ids fit


def test_the_admin_tools_make_the_namespace_and_stay_up(services: dict[str, dict[str, Any]]) -> None:
    tools = services["temporal-admin-tools"]
    script = mounted(tools, "/setup/admin-tools.sh").read_text(encoding="utf-8")
    assert "temporal operator cluster health" in script
    assert 'temporal operator namespace create --namespace "$TEMPORAL_NAMESPACE"' in script
    assert "--retention" in script and re.fullmatch(r"\d+d", environment(tools)["NAMESPACE_RETENTION"])
    assert script.rstrip().endswith("exec tail -f /dev/null")  # the operators' `docker compose exec` shell


def test_prometheus_scrapes_the_worker_and_the_api(services: dict[str, dict[str, Any]]) -> None:
    config = yaml.safe_load(mounted(services["prometheus"], "/etc/prometheus/prometheus.yml").read_text("utf-8"))
    targets = {
        job["job_name"]: (job.get("metrics_path", "/metrics"), target)
        for job in config["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
    }
    worker_port = environment(services["worker"])["WORKER_METRICS_PORT"]
    assert ("/metrics", f"worker:{worker_port}") in targets.values()
    assert ("/metrics", f"api:{option(services['api'], '--port')}") in targets.values()
    assert {"worker", "api"} <= set(depends_on(services["prometheus"]))


def test_grafana_is_provisioned_with_the_engine_dashboard(services: dict[str, dict[str, Any]]) -> None:
    grafana = services["grafana"]
    provisioning = mounted(grafana, "/etc/grafana/provisioning")
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text(encoding="utf-8"))
    source = sources["datasources"][0]
    prometheus_port = published(services["prometheus"])[9090]
    assert urlsplit(source["url"]).hostname == "prometheus" and urlsplit(source["url"]).port == prometheus_port
    providers = yaml.safe_load((provisioning / "dashboards" / "tdkt.yml").read_text(encoding="utf-8"))["providers"]
    dashboards = mounted(grafana, providers[0]["options"]["path"])
    dashboard = json.loads((dashboards / "tdkt-engine.json").read_text(encoding="utf-8"))
    home = environment(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{providers[0]['options']['path']}/tdkt-engine.json"
    # Every panel reads the provisioned source, and every series it names is one the engine or the SDK exports.
    metrics_code = (ROOT / "observability" / "metrics.py").read_text(encoding="utf-8")
    defined = set(re.findall(r'"(tdkt_[a-z_]+)"', metrics_code))
    queried: set[str] = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"], panel["title"]
            queried |= set(re.findall(r"\b((?:tdkt|temporal)_[a-z_]+)", target["expr"]))
    engine_series = {re.sub(r"_(bucket|sum|count)$", "", name) for name in queried if name.startswith("tdkt_")}
    assert engine_series <= defined, engine_series - defined
    assert engine_series == defined, f"no panel for {defined - engine_series}"
    assert any(name.startswith("temporal_") for name in queried)


@pytest.mark.skipif(
    subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0
    if shutil.which("docker")
    else True,
    reason="no docker compose plugin here",
)
def test_docker_compose_config_accepts_the_file() -> None:
    done = subprocess.run(["docker", "compose", "config", "--quiet"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
