"""Static checks of the Dockerfile and .dockerignore.

There is no Docker engine on the CI machines, so the image is not built here;
these tests check what can be checked without one.
"""

from __future__ import annotations

import re
import shlex
import tomllib

import pytest

from deploy_support import ROOT, is_spec_env

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            op, _, args = buf.strip().partition(" ")
            out.append((op.upper(), args.strip()))
        buf = ""
    return out


@pytest.fixture(scope="module")
def stages() -> list[dict]:
    """Each stage: its FROM image, its name and its instructions."""
    result: list[dict] = []
    for op, args in instructions(DOCKERFILE.read_text()):
        if op == "FROM":
            words = args.split()
            words = [w for w in words if not w.startswith("--platform")]
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            result.append({"image": words[0], "name": name, "steps": []})
        else:
            assert result, f"{op} before FROM"
            result[-1]["steps"].append((op, args))
    return result


def env_pairs(args: str) -> dict[str, str]:
    """ENV key=value [key=value ...] (the legacy `ENV key value` form is refused)."""
    pairs = {}
    for token in shlex.split(args):
        assert "=" in token, f"use ENV key=value, not {args!r}"
        k, v = token.split("=", 1)
        pairs[k] = v
    return pairs


def test_multi_stage_with_pinned_bases(stages):
    assert len(stages) >= 2
    names = {s["name"] for s in stages if s["name"]}
    for s in stages:
        image = s["image"]
        if image in names:
            continue
        assert "$" not in image, "base images are literal, not build args"
        if "@sha256:" in image:
            continue
        repo_tag = image.rsplit("/", 1)[-1]
        assert ":" in repo_tag, f"untagged base image {image}"
        tag = repo_tag.split(":", 1)[1]
        assert tag and tag != "latest", image


def test_builder_caches_dependencies_then_builds_locked(stages):
    builder = stages[0]
    assert builder["image"].startswith("rust:")
    steps = builder["steps"]
    builds = [i for i, (op, a) in enumerate(steps) if op == "RUN" and "cargo build" in a]
    assert len(builds) >= 2, "one build for the dependency layer, one for the sources"
    for i in builds:
        args = steps[i][1]
        assert "--release" in args and "--locked" in args
        assert "--bin order-service" in args and "--bin txlog-service" in args

    copies = [(i, a) for i, (op, a) in enumerate(steps) if op == "COPY"]
    # Manifests first: the lock file and every workspace member's Cargo.toml
    # are copied before the dependency build ...
    before = " ".join(a for i, a in copies if i < builds[0])
    assert "Cargo.lock" in before and "Cargo.toml" in before
    members = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["members"]
    for member in members:
        assert f"{member}/Cargo.toml" in before, f"{member}/Cargo.toml is not copied for the dependency layer"
    # ... and no source is copied until it has run.
    for i, a in copies:
        if i < builds[0]:
            assert all(src.endswith(("Cargo.toml", "Cargo.lock", ".cargo/config.toml")) for src in a.split()[:-1]), a
    assert any(i > builds[0] and i < builds[-1] for i, _ in copies), "sources copied after the dependency build"


def test_runtime_stage_is_minimal_and_non_root(stages):
    final = stages[-1]
    assert "distroless" in final["image"] or final["image"].split(":")[1].endswith("-slim")
    users = [a for op, a in final["steps"] if op == "USER"]
    assert users, "the runtime stage must set USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), user
    # numeric, so that Kubernetes runAsNonRoot can verify it
    assert user.isdigit() and int(user) >= 1000
    # No package manager or shell gets added back.
    assert not [a for op, a in final["steps"] if op == "RUN"], "the runtime image has no shell to RUN with"


def test_runtime_has_both_binaries_and_a_default_command(stages):
    final = stages[-1]
    copied = " ".join(a for op, a in final["steps"] if op == "COPY" and a.startswith("--from="))
    assert "order-service" in copied and "txlog-service" in copied
    assert "/usr/local/bin/" in copied
    (cmd,) = [a for op, a in final["steps"] if op == "CMD"]
    assert cmd.startswith("["), "exec form: there is no shell in the runtime image"
    assert "order-service" in cmd


def test_environment_and_ports(stages):
    env: dict[str, str] = {}
    for s in stages[1:]:
        for op, a in s["steps"]:
            if op == "ENV":
                env.update(env_pairs(a))
    for name in env:
        assert is_spec_env(name), f"{name} is not a variable SPEC names"
    final = stages[-1]
    exposed = {int(p.split("/")[0]) for op, a in final["steps"] if op == "EXPOSE" for p in a.split()}
    assert env["ORDERS_LISTEN"] == "0.0.0.0:8080"
    assert env["TXLOG_LISTEN"] == "0.0.0.0:8081"
    listen_ports = {int(env[k].rsplit(":", 1)[1]) for k in ("ORDERS_LISTEN", "TXLOG_LISTEN")}
    assert exposed == listen_ports == {8080, 8081}


# --- .dockerignore ----------------------------------------------------------


def _glob_to_regex(pattern: str) -> re.Pattern:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + "$")


def ignored(path: str, rules: list[tuple[bool, re.Pattern]]) -> bool:
    """Docker semantics: the last matching rule wins; a rule matching a parent
    directory matches everything below it."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for negate, rx in rules:
        if any(rx.match(p) for p in prefixes):
            result = not negate
    return result


@pytest.fixture(scope="module")
def ignore_rules():
    rules = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        rules.append((negate, _glob_to_regex(pattern)))
    return rules


@pytest.mark.parametrize("path", [
    "Cargo.toml", "Cargo.lock", ".cargo/config.toml", "src/main.rs",
    "crates/order-service/Cargo.toml", "crates/order-service/src/main.rs",
    "crates/txlog-service/src/lib.rs", "crates/order-service/migrations/0001_init.sql",
])
def test_dockerignore_keeps_the_sources(path, ignore_rules):
    assert not ignored(path, ignore_rules), path


@pytest.mark.parametrize("path", [
    "target/release/order-service", "crates/order-service/target/debug/x", ".git/HEAD",
    "data/orders.db", "crates/txlog-service/data/txlog.db", "tests/deploy/test_chart.py",
    "docs/API.md", "deploy/keycloak/ordersys-realm.json", "compose.yaml", ".env",
    "crates/platform/dev-key.pem", "deploy/compose/txlog-signing-key.txt", "crates/txlog-service/signing.key",
])
def test_dockerignore_drops_everything_else(path, ignore_rules):
    assert ignored(path, ignore_rules), path


def test_every_file_the_dockerfile_copies_is_committed():
    """A file the image copies but git does not track exists on one machine only: every clone
    (and CI) would build an image without it."""
    import subprocess

    text = (ROOT / "Dockerfile").read_text()
    # A `# syntax=` directive makes BuildKit pull a frontend image from a registry.
    assert not re.match(r"#\s*syntax\s*=", text), "no frontend image to download"
    tracked = set(subprocess.run(["git", "ls-files"], cwd=ROOT, check=True, capture_output=True,
                                 text=True).stdout.splitlines())
    for line in text.splitlines():
        words = shlex.split(line) if line.startswith("COPY ") else []
        if not words or any(w.startswith("--from") for w in words):
            continue
        for src in words[1:-1]:
            if src == ".":
                continue
            assert src in tracked, f"the Dockerfile copies {src}, which is not committed"


def test_cargo_config_builds_in_jemalloc_options():
    config = tomllib.loads((ROOT / ".cargo" / "config.toml").read_text())
    conf = config["env"]["JEMALLOC_SYS_WITH_MALLOC_CONF"]
    assert "dirty_decay_ms:1000" in conf and "muzzy_decay_ms:0" in conf
    assert "build" not in config or "target-dir" not in config["build"], "no machine-specific target dir"


def test_cargo_builds_share_a_target_cache(stages):
    """The target directory is a cache mount (BuildKit and buildah keep it between builds), the
    same one for the dependency and the source build: a source edit recompiles only the
    workspace's crates (.ci/image.sh, docs/OPERATIONS.md "Building the image")."""
    runs = [a for op, a in stages[0]["steps"] if op == "RUN" and "cargo build" in a]
    mounts = set()
    for args in runs:
        found = re.findall(r"--mount=(\S+)", args)
        cache = [m for m in found if "type=cache" in m and "target=/build/target" in m]
        assert cache, f"no target cache mount on {args[:80]}"
        mounts.add(cache[0])
        # The binaries leave the cache mount, which is not part of the layer.
        assert "/out/" in args or args is not runs[-1]
    assert len(mounts) == 1, mounts
