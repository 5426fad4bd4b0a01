"""Static checks of the container files: docker/k8s/*.yaml, docker/compose.yaml and
docker/Dockerfile.

They parse, and they agree with each other and with docs/API.md: the probes, ports,
CVP_* variables, CPU limits against thread counts, and grace periods against the drain
timeout. No cluster or engine is needed; where `kubectl`, `docker compose` or
`podman-compose` is installed, they are asked to accept the files too.

    python3 -m unittest discover -s docker/tests -v
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import unittest
from pathlib import Path

import yaml

DOCKER = Path(__file__).resolve().parent.parent
REPO = DOCKER.parent
K8S = DOCKER / "k8s"
COMPOSE = DOCKER / "compose.yaml"
DOCKERFILE = DOCKER / "Dockerfile"
API = REPO / "docs" / "API.md"

MODES = ("single", "reactors", "offload")
#: What building cvp-server needs (the README's list, less tests, benchmarks and the lab).
SERVER_BUILD_PACKAGES = {"g++", "cmake", "ninja-build", "libboost1.81-dev", "libboost-url1.81-dev",
                         "nlohmann-json3-dev", "libssl-dev"}
PORT = 8080


# ------------------------------------------------------------------------------
# Helpers


def known_variables() -> set[str]:
    """CVP_* variables the server reads: one per flag in docs/API.md's flag table."""
    flags = re.findall(r"^\|\s*`--([a-z][a-z-]*)`", API.read_text(), flags=re.M)
    assert flags, f"no flags found in {API}"
    return {"CVP_" + f.upper().replace("-", "_") for f in flags}


def duration_s(text: str) -> float:
    """A server duration (docs/API.md): ms, s or m suffix; a bare number is ms."""
    m = re.fullmatch(r"(\d+)(ms|s|m)?", str(text).strip())
    if not m:
        raise ValueError(f"not a duration: {text!r}")
    return int(m.group(1)) * {"ms": 0.001, None: 0.001, "s": 1.0, "m": 60.0}[m.group(2)]


def compose_duration_s(text: str) -> float:
    """A compose duration such as 15s, 1m30s or 500ms."""
    total, rest = 0.0, str(text).strip()
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", rest):
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}[unit]
    if not re.fullmatch(r"((\d+(\.\d+)?)(ms|us|h|m|s))+", rest):
        raise ValueError(f"not a compose duration: {text!r}")
    return total


def cpu_quantity(value) -> float:
    """A Kubernetes CPU quantity: "2", "1.5" or "1500m"."""
    text = str(value)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def dockerfile_stages() -> dict[str, list[str]]:
    """The Dockerfile's stages by name, each as its instructions (continuations joined)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?$", line, flags=re.I)
        if m:
            current = stages.setdefault(m.group(2) or f"stage{len(stages)}", [])
            current.append(line)
            continue
        assert current is not None, f"instruction before FROM: {line}"
        current.append(line)
    return stages


def instructions(stage: list[str], keyword: str) -> list[str]:
    """The arguments of every `keyword` instruction in a stage."""
    out = []
    for line in stage:
        word, _, rest = line.partition(" ")
        if word.upper() == keyword:
            out.append(rest.strip())
    return out


def apt_packages(stage: list[str]) -> set[str]:
    """Packages named to `apt-get install` in a stage."""
    packages: set[str] = set()
    for run in instructions(stage, "RUN"):
        for m in re.finditer(r"apt-get install((?:\s+[^&;|]+))", run):
            packages |= {w for w in m.group(1).split() if not w.startswith("-")}
    return packages


def runtime_uid() -> int:
    """The numeric user the runtime image runs as."""
    users = instructions(dockerfile_stages()["runtime"], "USER")
    assert users, "the runtime stage sets no USER"
    return int(users[-1].split(":")[0])


def k8s_documents() -> list[dict]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        with path.open() as f:
            for doc in yaml.safe_load_all(f):
                if doc is not None:
                    doc["__file__"] = path.name
                    docs.append(doc)
    return docs


def find(docs: list[dict], kind: str, name: str) -> dict:
    hits = [d for d in docs if d.get("kind") == kind and d.get("metadata", {}).get("name") == name]
    if len(hits) != 1:
        raise AssertionError(f"expected one {kind} named {name}, found {len(hits)}")
    return hits[0]


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def threads_running_work(mode: str, env: dict) -> int:
    """Threads that run CPU work in a model, from its configuration."""
    if mode == "single":
        return 1
    var = {"reactors": "CVP_THREADS", "offload": "CVP_POOL_THREADS"}[mode]
    if var not in env:
        raise AssertionError(f"{mode}: {var} is not set, so the thread count is not stated")
    return int(env[var])


def run_tool(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60)


# ------------------------------------------------------------------------------
# Kubernetes


class KubernetesManifests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.docs = k8s_documents()
        cls.known = known_variables()

    def test_every_document_parses_and_is_named(self):
        self.assertTrue(self.docs, "no manifests in docker/k8s")
        for doc in self.docs:
            with self.subTest(file=doc["__file__"], kind=doc.get("kind")):
                self.assertIn("apiVersion", doc)
                self.assertIn("kind", doc)
                if doc["kind"] != "Kustomization":
                    self.assertTrue(doc.get("metadata", {}).get("name"))

    def test_kustomization_lists_the_models(self):
        kust = [d for d in self.docs if d.get("kind") == "Kustomization"]
        self.assertEqual(len(kust), 1)
        resources = kust[0]["resources"]
        for mode in MODES:
            self.assertIn(f"cvp-{mode}.yaml", resources)
        for resource in resources:
            self.assertTrue((K8S / resource).is_file(), resource)

    def _server(self, mode: str):
        deployment = find(self.docs, "Deployment", f"cvp-{mode}")
        pod = deployment["spec"]["template"]["spec"]
        containers = pod["containers"]
        self.assertEqual(len(containers), 1, f"cvp-{mode}: one container")
        return deployment, pod, containers[0]

    def test_deployment_and_service_per_model(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                deployment, pod, container = self._server(mode)
                service = find(self.docs, "Service", f"cvp-{mode}")
                labels = deployment["spec"]["template"]["metadata"]["labels"]
                # The Deployment owns its pods, and the Service selects exactly them
                selector = deployment["spec"]["selector"]["matchLabels"]
                self.assertLessEqual(selector.items(), labels.items())
                self.assertLessEqual(service["spec"]["selector"].items(), labels.items())
                for other in MODES:
                    if other != mode:
                        other_labels = find(self.docs, "Deployment", f"cvp-{other}")["spec"]["template"]["metadata"]["labels"]
                        self.assertFalse(service["spec"]["selector"].items() <= other_labels.items(),
                                         f"Service cvp-{mode} also selects cvp-{other}'s pods")
                self.assertTrue(container["image"].split("/")[-1].startswith("cvp"))

    def test_ports(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                _, _, container = self._server(mode)
                service = find(self.docs, "Service", f"cvp-{mode}")
                ports = {p["name"]: p for p in container["ports"]}
                self.assertEqual(ports["http"]["containerPort"], PORT)
                env = env_of(container)
                self.assertEqual(env.get("CVP_PORT", str(PORT)), str(PORT))
                self.assertEqual(env.get("CVP_ADDRESS"), "0.0.0.0", "must listen beyond loopback")
                (sport,) = service["spec"]["ports"]
                self.assertEqual(sport["port"], PORT)
                self.assertIn(sport["targetPort"], ("http", PORT))

    def test_probes(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                _, _, container = self._server(mode)
                ready = container["readinessProbe"]["httpGet"]
                live = container["livenessProbe"]["httpGet"]
                self.assertEqual(ready["path"], "/readyz")
                self.assertEqual(live["path"], "/healthz")
                for probe in (ready, live):
                    self.assertIn(probe["port"], ("http", PORT))

    def test_variables(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                _, _, container = self._server(mode)
                env = env_of(container)
                self.assertEqual(env.get("CVP_MODE"), mode)
                for name, value in env.items():
                    self.assertIn(name, self.known, f"{name} is not a flag in docs/API.md")
                    # The API server rejects numbers and booleans as env values
                    self.assertIsInstance(value, str, f"{name} must be a quoted string")
                if "CVP_DRAIN_TIMEOUT" in env:
                    duration_s(env["CVP_DRAIN_TIMEOUT"])

    def test_cpu_limit_matches_threads(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                _, _, container = self._server(mode)
                resources = container["resources"]
                limit = cpu_quantity(resources["limits"]["cpu"])
                threads = threads_running_work(mode, env_of(container))
                # The server sizes itself as ceil(quota); a stated count must agree with it
                self.assertEqual(math.ceil(limit), threads, f"limits.cpu {limit} vs {threads} threads")
                self.assertEqual(cpu_quantity(resources["requests"]["cpu"]), limit,
                                 "requests == limits (Guaranteed QoS, whole CPUs)")

    def test_guaranteed_qos(self):
        # Guaranteed needs requests == limits for memory as well as CPU; only then does the
        # static CPU manager policy give the pod CPUs of its own (see CVP_PIN).
        for mode in MODES:
            with self.subTest(mode=mode):
                _, _, container = self._server(mode)
                resources = container["resources"]
                for what in ("cpu", "memory"):
                    self.assertEqual(str(resources["requests"][what]), str(resources["limits"][what]),
                                     f"requests.{what} != limits.{what}: Burstable, not Guaranteed")
                self.assertTrue(cpu_quantity(resources["limits"]["cpu"]).is_integer(), "whole CPUs")

    def test_grace_period_exceeds_drain(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                _, pod, container = self._server(mode)
                drain = duration_s(env_of(container).get("CVP_DRAIN_TIMEOUT", "10s"))
                pre_stop = 0.0
                command = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
                if command:
                    self.assertEqual(command[0], "sleep", "preStop runs in the runtime image: only sleep")
                    pre_stop = float(command[1])
                grace = pod["terminationGracePeriodSeconds"]
                self.assertGreater(grace, drain + pre_stop, "SIGKILL would cut the drain short")

    def test_security_context_matches_image(self):
        uid = runtime_uid()
        for mode in MODES:
            with self.subTest(mode=mode):
                _, pod, container = self._server(mode)
                ctx = pod["securityContext"]
                self.assertTrue(ctx["runAsNonRoot"])
                self.assertEqual(ctx.get("runAsUser", uid), uid)
                self.assertFalse(container["securityContext"]["allowPrivilegeEscalation"])

    def test_lab_job_targets_the_services(self):
        job = find(self.docs, "Job", "cvp-lab")
        (container,) = job["spec"]["template"]["spec"]["containers"]
        script = " ".join(container.get("command", []) + container.get("args", []))
        for mode in MODES:
            service = find(self.docs, "Service", f"cvp-{mode}")
            port = service["spec"]["ports"][0]["port"]
            self.assertIn(f"--target http://cvp-{mode}:{port}", script)
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        out = re.search(r"--out\s+(\S+)", script).group(1)
        self.assertIn(out, mounts)

    @unittest.skipUnless(shutil.which("kubectl"), "kubectl is not installed")
    def test_kustomize_builds(self):
        result = run_tool(["kubectl", "kustomize", str(K8S)])
        self.assertEqual(result.returncode, 0, result.stderr)
        kinds = [d["kind"] for d in yaml.safe_load_all(result.stdout) if d]
        self.assertEqual(sorted(kinds), sorted(["Deployment", "Service"] * len(MODES)))


# ------------------------------------------------------------------------------
# Compose


class ComposeFile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with COMPOSE.open() as f:
            cls.compose = yaml.safe_load(f)
        cls.services = cls.compose["services"]
        cls.known = known_variables()

    def test_a_service_per_model(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                service = self.services[f"cvp-{mode}"]
                env = service["environment"]
                self.assertEqual(env["CVP_MODE"], mode)
                self.assertEqual(env.get("CVP_ADDRESS"), "0.0.0.0")
                self.assertEqual(str(env.get("CVP_PORT", PORT)), str(PORT))
                for name in env:
                    self.assertIn(name, self.known, f"{name} is not a flag in docs/API.md")
                self.assertNotIn("profiles", service, "the servers start with a plain `up`")

    def test_build_uses_the_dockerfile_targets(self):
        stages = dockerfile_stages()
        for name, service in self.services.items():
            with self.subTest(service=name):
                build = service["build"]
                context = (DOCKER / build["context"]).resolve()
                self.assertEqual(context, REPO)
                self.assertTrue((context / build["dockerfile"]).is_file())
                self.assertIn(build["target"], stages)

    def test_distinct_host_ports(self):
        host_ports = []
        for mode in MODES:
            (mapping,) = self.services[f"cvp-{mode}"]["ports"]
            # "127.0.0.1:${VAR:-8081}:8080": the default after substitution
            mapping = re.sub(r"\$\{[A-Z_]+:-(\d+)\}", r"\1", mapping)
            *host, container = mapping.split(":")
            self.assertEqual(int(container), PORT)
            host_ports.append(int(host[-1]))
        self.assertEqual(len(set(host_ports)), len(MODES), host_ports)

    def test_cpu_limits(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                service = self.services[f"cvp-{mode}"]
                limit = service.get("deploy", {}).get("resources", {}).get("limits", {}).get("cpus", service.get("cpus"))
                self.assertIsNotNone(limit, "no CPU limit")
                limit = float(limit)
                self.assertGreater(limit, 0)
                if mode == "single":
                    self.assertEqual(limit, 1, "single runs one thread")
                else:
                    self.assertGreaterEqual(limit, 1)

    def test_stop_grace_exceeds_drain(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                service = self.services[f"cvp-{mode}"]
                drain = duration_s(service["environment"].get("CVP_DRAIN_TIMEOUT", "10s"))
                self.assertGreater(compose_duration_s(service["stop_grace_period"]), drain)
                self.assertEqual(service.get("stop_signal", "SIGTERM"), "SIGTERM")

    def test_loadtest_targets_the_three(self):
        lab = self.services["loadtest"]
        self.assertIn("lab", lab["profiles"])
        self.assertEqual(lab["build"]["target"], "lab")
        command = lab["command"]
        targets = [command[i + 1] for i, word in enumerate(command) if word == "--target"]
        self.assertEqual(targets, [f"http://cvp-{mode}:{PORT}" for mode in MODES])
        out = command[command.index("--out") + 1]
        mounts = [v.split(":") for v in lab["volumes"]]
        self.assertIn(out, [m[1] for m in mounts], "the report folder is not mounted")
        self.assertEqual(set(lab["depends_on"]), {f"cvp-{mode}" for mode in MODES})

    @unittest.skipUnless(shutil.which("podman-compose"), "podman-compose is not installed")
    def test_podman_compose_accepts_it(self):
        # podman-compose 1.0.3 (Debian 12) has no `config`: a dry run of `up` prints the
        # podman commands it would run; `true` as podman keeps it from creating a network.
        result = run_tool(["podman-compose", "--podman-path", "true", "--dry-run", "-p", "cvp-dry",
                           "-f", str(COMPOSE), "up", "-d", "--no-build", *(f"cvp-{m}" for m in MODES)])
        self.assertEqual(result.returncode, 0, result.stderr + result.stdout)
        runs = [l for l in result.stdout.splitlines() if re.match(r"\S*true run ", l)]
        self.assertEqual(len(runs), len(MODES), result.stdout)
        for mode in MODES:
            with self.subTest(mode=mode):
                (line,) = [l for l in runs if f"-e CVP_MODE={mode} " in l]
                self.assertRegex(line, r"--cpus \d")
                self.assertRegex(line, r"-p 127\.0\.0\.1:\d+:8080 ")
                self.assertIn(f"--network-alias cvp-{mode}", line)

    def test_docker_compose_accepts_it(self):
        if not shutil.which("docker") or run_tool(["docker", "compose", "version"]).returncode != 0:
            self.skipTest("docker compose is not installed")
        for extra in ([], ["--profile", "lab"]):
            result = run_tool(["docker", "compose", "-f", str(COMPOSE), *extra, "config", "-q"])
            self.assertEqual(result.returncode, 0, result.stderr)


# ------------------------------------------------------------------------------
# Dockerfile


class Dockerfile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stages = dockerfile_stages()

    def test_stages_on_bookworm_slim(self):
        self.assertIn("build", self.stages)
        self.assertIn("lab", self.stages)
        self.assertEqual(list(self.stages)[-1], "runtime", "runtime must be the default target")
        for name, stage in self.stages.items():
            self.assertRegex(stage[0], r"FROM debian:bookworm-slim\b", name)

    def test_runtime_stage(self):
        runtime = self.stages["runtime"]
        entry = instructions(runtime, "ENTRYPOINT")
        self.assertEqual(entry, ['["/usr/local/bin/cvp-server"]'], "exec form, the binary only")
        self.assertEqual(instructions(runtime, "STOPSIGNAL"), ["SIGTERM"])
        (health,) = instructions(runtime, "HEALTHCHECK")
        self.assertIn("/healthz", health)
        self.assertIn("EXPOSE", [line.split()[0] for line in runtime])
        self.assertGreater(runtime_uid(), 0)
        env = " ".join(instructions(runtime, "ENV"))
        self.assertIn("CVP_ADDRESS=0.0.0.0", env)
        self.assertIn(f"CVP_PORT={PORT}", env)
        # Only the binary comes from the build stage
        copies = instructions(runtime, "COPY")
        self.assertEqual(len(copies), 1)
        self.assertIn("cvp-server", copies[0])

    def test_build_stage_builds_only_the_server(self):
        run = " ".join(instructions(self.stages["build"], "RUN"))
        self.assertIn("cmake --preset release", run)
        self.assertIn("-DBUILD_TESTING=OFF", run)
        self.assertIn("--target cvp-server", run)

    def test_build_packages_are_the_documented_ones(self):
        # The documented install: scripts/deps' list and any apt-get install line in the README
        documented: set[str] = set()
        deps = REPO / "scripts" / "deps"
        if deps.is_file():
            block = re.search(r"^packages=\((.*?)^\)", deps.read_text(), flags=re.S | re.M)
            if block:
                for line in block.group(1).splitlines():
                    documented |= set(line.split("#", 1)[0].split())
        readme = REPO / "README.md"
        if readme.is_file():
            for line in readme.read_text().splitlines():
                if "apt-get install" in line or "apt install" in line:
                    documented |= {w for w in line.split() if re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", w)}
        build = apt_packages(self.stages["build"])
        self.assertLessEqual(SERVER_BUILD_PACKAGES, build, "the image lacks packages the server build needs")
        if not documented:
            self.skipTest("neither scripts/deps nor README.md lists the packages")
        self.assertLessEqual(build, documented, "the image installs packages the README does not name")

if __name__ == "__main__":
    unittest.main()
