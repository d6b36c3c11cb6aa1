"""docker-compose.yml: every command exists in the CLI, images are pinned, secrets come from
the environment, and each service waits for what it needs (no Docker engine needed)."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer._click.exceptions import UsageError

from api.cli import app
from api.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
# ${NAME:-default} and ${NAME:?message}, as Compose interpolates them.
VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")
PINNED = re.compile(r"^[\w./-]+:\d+\.\d+[\w.-]*$")
# Read by the replica-reads settings, which this file's API service is configured for.
READ_URL = "FUNDING_READ_DATABASE_URL"


def interpolate(value: str) -> str:
    """Resolve variables as Compose would with none set: defaults, and a stand-in secret."""

    def resolve(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if kind == "-":
            return rest
        return f"<{name}>"

    return VARIABLE.sub(resolve, value).replace("$$", "$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def funding_commands(services: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    return {
        name: [interpolate(str(part)) for part in service["command"]]
        for name, service in services.items()
        if service.get("command", [None])[0] == "funding"
    }


def resolve(arguments: list[str]) -> Any:
    """Parse `funding …` arguments as the CLI would (options checked), without running it.

    Returns the command's context, whose `params` hold the parsed options.
    """
    command: Any = typer.main.get_command(app)
    names = ["funding"]
    rest = arguments
    while hasattr(command, "get_command"):  # a group of commands (typer's own click)
        name, rest = rest[0], rest[1:]
        sub = command.get_command(typer.Context(command), name)
        assert sub is not None, f"`funding {' '.join([*names[1:], name])}` is no CLI command"
        command, names = sub, [*names, name]
    return command.make_context(" ".join(names), list(rest))


def test_the_services_are_the_deployment_of_docs_deploy_md(
    services: dict[str, dict[str, Any]],
) -> None:
    assert set(services) == {
        "postgres",
        "postgres-replica",
        "migrate",
        "api",
        "projector",
        "demo",
    }


def test_every_funding_command_exists_with_its_options(
    services: dict[str, dict[str, Any]],
) -> None:
    commands = funding_commands(services)

    assert set(commands) == {"migrate", "api", "projector", "demo"}
    for arguments in commands.values():
        resolve(arguments[1:])  # raises on an unknown command or option, or a bad value


def test_the_check_refuses_a_command_or_option_the_cli_lacks() -> None:
    with pytest.raises(AssertionError, match="no CLI command"):
        resolve(["migrations"])
    with pytest.raises(UsageError, match="No such option"):
        resolve(["serve", "--no-such-option"])
    with pytest.raises(typer.BadParameter):
        resolve(["serve", "--workers", "0"])


def test_the_api_serves_without_a_projector_and_reads_from_the_replica(
    services: dict[str, dict[str, Any]],
) -> None:
    api = resolve(funding_commands(services)["api"][1:])
    environment = services["api"]["environment"]

    assert api.params["no_projector"] is True
    assert api.params["workers"] >= 2
    assert "@postgres:5432/" in environment["FUNDING_DATABASE_URL"]
    assert "@postgres-replica:5432/" in environment[READ_URL]


def test_two_projectors_run(services: dict[str, dict[str, Any]]) -> None:
    assert services["projector"]["deploy"]["replicas"] == 2
    assert "container_name" not in services["projector"]


def test_every_image_is_pinned_to_a_version(services: dict[str, dict[str, Any]]) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]

    for name, service in services.items():
        assert PINNED.match(service["image"]), f"{name}: {service['image']} is not pinned"
        if "build" in service:
            assert service["image"] == f"funding-tracker:{version}"
    assert service["image"].startswith("funding-tracker:")
    base = re.search(r"^FROM (\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert base is not None
    assert PINNED.match(base.group(1))
    assert services["postgres"]["image"].startswith("postgres:16.")
    assert services["postgres-replica"]["image"] == services["postgres"]["image"]


def test_long_running_services_have_health_checks(services: dict[str, dict[str, Any]]) -> None:
    for name in ("postgres", "postgres-replica", "api"):
        check = services[name]["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL")
        assert check["retries"] >= 3


def test_each_service_waits_for_what_it_needs(services: dict[str, dict[str, Any]]) -> None:
    needs = {
        "postgres-replica": {"postgres": "service_healthy"},
        "migrate": {"postgres": "service_healthy"},
        "api": {
            "migrate": "service_completed_successfully",
            "postgres-replica": "service_healthy",
        },
        "projector": {"migrate": "service_completed_successfully"},
        "demo": {"migrate": "service_completed_successfully"},
    }
    for name, wanted in needs.items():
        depends = {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}
        assert depends == wanted, name
        for dep, condition in depends.items():
            if condition == "service_healthy":
                assert "healthcheck" in services[dep]
            else:
                assert services[dep]["restart"] == "no"  # a one-shot service


def test_no_secret_is_written_in_the_file(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key:
                assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", value), f"{name}: {key}"
            if key.endswith("DATABASE_URL"):
                assert re.search(r"://funding:\$\{POSTGRES_PASSWORD:\?[^}]+\}@", value)


def test_the_app_reads_the_variables_it_is_given(services: dict[str, dict[str, Any]]) -> None:
    fields = {f"FUNDING_{name.upper()}" for name in Settings.model_fields}
    if "read_database_url" not in Settings.model_fields:
        fields.add(READ_URL)  # read by the replica-reads settings
    for name in funding_commands(services):
        assert set(services[name]["environment"]) <= fields, name


def test_the_mounted_scripts_exist_are_executable_and_parse(
    services: dict[str, dict[str, Any]],
) -> None:
    mounted = [
        volume.split(":")[0]
        for service in services.values()
        for volume in service.get("volumes", [])
        if volume.startswith("./")
    ]

    assert len(mounted) == 3
    for path in mounted:
        script = ROOT / path
        assert script.stat().st_mode & 0o111, path
        subprocess.run(["bash", "-n", str(script)], check=True)  # noqa: S603, S607
