"""Static checks of the container files: docker/k8s/, docker/compose.yaml and
docker/Dockerfile.

They parse, and they agree with each other and with docs/API.md: the probes, ports,
CVP_* variables, CPU limits against thread counts, memory against the `threads` model's
connection cap, and grace periods against the drain timeout. No cluster or engine is
needed: docker/k8s/ (the five servers), docker/k8s/lab/ (the lab's Job, on demand) and
docker/k8s/lab/load/ (the distributed cvp-load generators and their merge) are rendered here by a small kustomize (below) that knows only the features the manifests use
and refuses any other. Where `kubectl`, `docker compose` or `podman-compose` is installed,
they are asked to accept the files too, and kubectl's rendering must equal this one.

    python3 -m unittest discover -s docker/tests -t docker -v
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

DOCKER = Path(__file__).resolve().parent.parent
REPO = DOCKER.parent
K8S = DOCKER / "k8s"
BASE = K8S / "base"
OVERLAYS = K8S / "overlays"
LAB = K8S / "lab"
#: The distributed open-loop generators (an Indexed Job) and the Job that merges them.
LOAD = LAB / "load"
COMPOSE = DOCKER / "compose.yaml"
DOCKERFILE = DOCKER / "Dockerfile"
API = REPO / "docs" / "API.md"

#: The server binary whose --list-models names the models (scripts/test builds it first).
SERVER_BINARY = Path(os.environ.get("CVP_SERVER_BINARY", REPO / "build" / "release" / "cvp-server"))


def list_models() -> list[dict]:
    """The models as the server binary lists them: the files here keep no list of their own."""
    if not SERVER_BINARY.is_file():
        raise RuntimeError(f"{SERVER_BINARY} is not built: build it first, or set CVP_SERVER_BINARY")
    out = subprocess.run([str(SERVER_BINARY), "--list-models"], check=True, capture_output=True, text=True, timeout=30)
    return json.loads(out.stdout)["models"]


MODELS = {m["name"]: m for m in list_models()}
#: In the binary's order.
MODES = tuple(MODELS)
#: Models that honour CVP_PIN (`pin` is "on" or "off", their default, in the binary's list).
PINNING_MODES = tuple(name for name, m in MODELS.items() if m.get("pin") is not None)
#: What building cvp-server needs (the README's list, less tests, benchmarks and the lab).
SERVER_BUILD_PACKAGES = {"g++", "cmake", "ninja-build", "libboost1.81-dev", "libboost-url1.81-dev",
                         "nlohmann-json3-dev", "libssl-dev", "libpq-dev"}
PORT = 8080

#: Variables of flags that issue 10 adds with `pool` and `threads`, accepted in the files
#: until docs/API.md's flag table lists them (test_pending_flags_are_documented says when).
PENDING_VARIABLES = {"CVP_THREAD_STACK"}
#: --thread-stack's default (issue 10), while docs/API.md does not state one.
THREAD_STACK_DEFAULT = "256K"
#: What a connection thread of `threads` holds beyond its stack: its own io_context and
#: the descriptors behind it, its read buffer, the thread's own bookkeeping. An estimate,
#: on the generous side; the memory limit must cover it for every allowed connection.
THREAD_OVERHEAD_BYTES = 64 * 1024


# ------------------------------------------------------------------------------
# Helpers


def api_flags() -> dict[str, str]:
    """docs/API.md's flag table: each flag (without --) and its default, as written."""
    rows = re.findall(r"^\|\s*`--([a-z][a-z-]*)`\s*\|\s*([^|]*?)\s*\|", API.read_text(), flags=re.M)
    assert rows, f"no flags found in {API}"
    return {flag: default.strip("`") for flag, default in rows}


def known_variables() -> set[str]:
    """CVP_* variables the server reads: one per flag in docs/API.md's flag table."""
    return {"CVP_" + f.upper().replace("-", "_") for f in api_flags()}


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


def memory_quantity(value) -> int:
    """A Kubernetes memory quantity in bytes: "512Mi", "1Gi", "500M" or bytes."""
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?", str(value))
    if not m:
        raise ValueError(f"not a memory quantity: {value!r}")
    scale = {None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
             "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}[m.group(2)]
    return int(m.group(1)) * scale


def compose_bytes(value) -> int:
    """A compose memory size in bytes: "1152M", "1g", "512m" or bytes (binary units)."""
    m = re.fullmatch(r"(\d+)([bkmg]?)", str(value).lower())
    if not m:
        raise ValueError(f"not a compose memory size: {value!r}")
    return int(m.group(1)) * {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30}[m.group(2)]


def server_bytes(value) -> int:
    """A size as the server reads --thread-stack (issue 10): 256K, 1M or bytes."""
    m = re.fullmatch(r"(\d+)([KMG]?)", str(value))
    if not m:
        raise ValueError(f"not a size: {value!r}")
    return int(m.group(1)) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[m.group(2)]


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


def find(docs: list[dict], kind: str, name: str) -> dict:
    hits = [d for d in docs if d.get("kind") == kind and d.get("metadata", {}).get("name") == name]
    if len(hits) != 1:
        raise AssertionError(f"expected one {kind} named {name}, found {len(hits)}")
    return hits[0]


def env_of(container: dict) -> dict[str, str]:
    """A container's variables: each one's value, or its valueFrom where it has one."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


#: Variables the servers take from a Secret (valueFrom), not from a value in the manifests.
FROM_SECRETS = {"CVP_DB"}


def threads_running_work(mode: str, env: dict) -> int | None:
    """Threads that run CPU work in a model, from its configuration and its entry in
    --list-models: None where a thread per connection runs it (they follow the connections,
    not the CPUs), 1 where no flag sizes the model, else the value of its first sizing flag."""
    model = MODELS[mode]
    if model["work_kind"] == "connection-thread":
        return None
    if not model["sizing_flags"]:
        return 1
    var = "CVP_" + model["sizing_flags"][0].removeprefix("--").replace("-", "_").upper()
    if var not in env:
        raise AssertionError(f"{mode}: {var} is not set, so the thread count is not stated")
    return int(env[var])


def threads_memory_needed(env: dict, base_bytes: int) -> tuple[int, int, int]:
    """What `threads` needs under its connection cap: the base's memory, plus for every
    connection its thread's whole stack (a page counts once touched; the bound is all of
    it) and THREAD_OVERHEAD_BYTES. Returns (needed bytes, cap, stack bytes)."""
    cap = int(env.get("CVP_MAX_CONNECTIONS", api_flags()["max-connections"]))
    stack = server_bytes(env.get("CVP_THREAD_STACK", api_flags().get("thread-stack", THREAD_STACK_DEFAULT)))
    return base_bytes + cap * (stack + THREAD_OVERHEAD_BYTES), cap, stack


def run_tool(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60)


# ------------------------------------------------------------------------------
# A small kustomize: what docker/k8s/ uses, and nothing else
#
# resources (files and directories), patches (strategic merge, by the patch's own kind
# and name), namePrefix/nameSuffix, labels (with includeSelectors) and images, applied in
# kustomize's order: patches, then names, then labels, then images. A field, patch
# directive or list it does not model is an error, not something to skip.

KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "resources", "patches", "namePrefix", "nameSuffix", "labels", "images"}
#: Lists a strategic-merge patch merges item by item, on this key (the API's patchMergeKey).
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name",
              "volumeMounts": "mountPath"}
#: Lists a patch replaces whole (atomic in the API).
ATOMIC_LISTS = {"command", "args", "drop", "add"}
#: Where labels with includeSelectors go besides metadata.labels, by kind.
SELECTOR_PATHS = {"Deployment": (("spec", "selector", "matchLabels"), ("spec", "template", "metadata", "labels")),
                  "Service": (("spec", "selector"),)}


def load_kustomization(directory: Path) -> dict:
    path = directory / "kustomization.yaml"
    with path.open() as f:
        kust = yaml.safe_load(f)
    unknown = set(kust) - KUSTOMIZATION_FIELDS
    if unknown:
        raise AssertionError(f"{path}: the test's kustomize does not know {sorted(unknown)}")
    return kust


def strategic_merge(original: dict, patch: dict, where: str = "") -> dict:
    """`patch` merged into `original` as a strategic-merge patch does, for maps, null
    (delete), keyed lists (MERGE_KEYS) and atomic lists (ATOMIC_LISTS)."""
    out = copy.deepcopy(original)
    for key, value in patch.items():
        at = f"{where}.{key}"
        if key.startswith("$"):
            raise AssertionError(f"{at}: the test's kustomize does not know patch directives")
        if value is None:
            out.pop(key, None)
        elif isinstance(value, list):
            if key in MERGE_KEYS:
                out[key] = merge_list(out.get(key) or [], value, MERGE_KEYS[key], at)
            elif key in ATOMIC_LISTS:
                out[key] = copy.deepcopy(value)
            else:
                raise AssertionError(f"{at}: the test's kustomize does not know how this list merges")
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = strategic_merge(out[key], value, at)
        elif isinstance(value, dict):
            out[key] = strategic_merge({}, value, at)
        else:
            out[key] = copy.deepcopy(value)
    return out


def merge_list(original: list[dict], patch: list[dict], key: str, where: str) -> list[dict]:
    # kustomize's order: the patch's items first, as the patch lists them (each merged
    # into the original's item with its key, if any), then the original's other items.
    by_key = {item[key]: item for item in original}
    merged = [strategic_merge(by_key.get(item[key], {}), item, f"{where}[{item[key]}]") for item in patch]
    patched = {item[key] for item in patch}
    return merged + [copy.deepcopy(item) for item in original if item[key] not in patched]


def pod_containers(doc: dict) -> list[dict]:
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    return spec.get("containers", []) + spec.get("initContainers", [])


def kustomize(directory: Path) -> list[dict]:
    """The documents `kubectl kustomize DIRECTORY` would print (in no particular order)."""
    kust = load_kustomization(directory)
    docs: list[dict] = []
    for entry in kust.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            docs += kustomize(path)
        else:
            with path.open() as f:
                docs += [d for d in yaml.safe_load_all(f) if d is not None]

    for entry in kust.get("patches", []):
        if set(entry) != {"path"}:
            raise AssertionError(f"{directory}: the test's kustomize takes patches by path only: {entry}")
        with (directory / entry["path"]).open() as f:
            patch = yaml.safe_load(f)
        target = find(docs, patch["kind"], patch["metadata"]["name"])
        docs[docs.index(target)] = strategic_merge(target, patch, f"{entry['path']}")

    prefix, suffix = kust.get("namePrefix", ""), kust.get("nameSuffix", "")
    for doc in docs:
        doc["metadata"]["name"] = prefix + doc["metadata"]["name"] + suffix

    for entry in kust.get("labels", []):
        if not set(entry) <= {"pairs", "includeSelectors"}:
            raise AssertionError(f"{directory}: the test's kustomize does not know labels {sorted(entry)}")
        for doc in docs:
            doc["metadata"].setdefault("labels", {}).update(entry["pairs"])
            if not entry.get("includeSelectors"):
                continue
            if doc["kind"] not in SELECTOR_PATHS:
                raise AssertionError(f"{directory}: the test's kustomize does not know {doc['kind']}'s selectors")
            for path in SELECTOR_PATHS[doc["kind"]]:
                node = doc
                for step in path:
                    node = node.setdefault(step, {})
                node.update(entry["pairs"])

    for entry in kust.get("images", []):
        if not set(entry) <= {"name", "newName", "newTag"}:
            raise AssertionError(f"{directory}: the test's kustomize does not know images {sorted(entry)}")
        for doc in docs:
            for container in pod_containers(doc):
                name, _, tag = container["image"].rpartition(":") if ":" in container["image"].split("/")[-1] \
                    else (container["image"], "", "")
                if name == entry["name"]:
                    new_tag = entry.get("newTag", tag)
                    container["image"] = entry.get("newName", name) + (f":{new_tag}" if new_tag else "")

    ids = [(d["kind"], d["metadata"]["name"]) for d in docs]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise AssertionError(f"{directory}: kustomize would refuse the duplicates {sorted(duplicates)}")
    return docs


def kustomization_tree(directory: Path) -> tuple[set[Path], set[Path], set[Path]]:
    """Every kustomization.yaml reached from DIRECTORY, the resource files and the patch files."""
    kusts, resources, patches = {directory / "kustomization.yaml"}, set(), set()
    kust = load_kustomization(directory)
    for entry in kust.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            more = kustomization_tree(path)
            kusts, resources, patches = kusts | more[0], resources | more[1], patches | more[2]
        else:
            resources.add(path)
    patches |= {(directory / p["path"]).resolve() for p in kust.get("patches", [])}
    return {k.resolve() for k in kusts}, resources, patches


def by_id(docs: list[dict]) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


# ------------------------------------------------------------------------------
# Kubernetes


class Kustomize(unittest.TestCase):
    """The renderer itself, on what kustomize v5.5 was seen to do with the same input."""

    def test_keyed_lists_merge_as_kustomize_does(self):
        original = {"containers": [{"name": "a", "args": ["x", "y"], "env": [
            {"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "3"}]},
            {"name": "b", "image": "q"}]}
        patch = {"containers": [{"name": "c", "image": "z"}, {"name": "a", "args": ["z"], "env": [
            {"name": "X", "value": "9"}, {"name": "B", "value": "20"}, {"name": "Y", "value": "8"}]}]}
        self.assertEqual(strategic_merge(original, patch), {"containers": [
            {"name": "c", "image": "z"},
            {"name": "a", "args": ["z"], "env": [{"name": "X", "value": "9"}, {"name": "B", "value": "20"},
                                                {"name": "Y", "value": "8"}, {"name": "A", "value": "1"},
                                                {"name": "C", "value": "3"}]},
            {"name": "b", "image": "q"}]})

    def test_what_it_does_not_model_is_an_error(self):
        with self.assertRaises(AssertionError):
            strategic_merge({"ports": [{"containerPort": 1}]}, {"ports": [{"containerPort": 2}]})
        with self.assertRaises(AssertionError):
            strategic_merge({}, {"$patch": "replace"})


#: The kustomizations a user applies: the five servers, and the lab once they are up.
DATABASE = K8S / "database"
ENTRY_POINTS = (K8S, LAB, DATABASE, LOAD)


class KubernetesManifests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.docs = kustomize(K8S)
        cls.lab_docs = kustomize(LAB)
        cls.known = known_variables()
        (cls.base,) = [d for d in kustomize(BASE) if d["kind"] == "Deployment"]
        cls.base_memory = memory_quantity(cls.base["spec"]["template"]["spec"]["containers"][0]
                                          ["resources"]["limits"]["memory"])

    def test_every_file_parses_and_is_named(self):
        files = sorted(K8S.rglob("*.yaml"))
        self.assertTrue(files, "no manifests in docker/k8s")
        for path in files:
            with self.subTest(file=str(path.relative_to(K8S))), path.open() as f:
                for doc in yaml.safe_load_all(f):
                    if doc is None:
                        continue
                    self.assertIn("apiVersion", doc)
                    self.assertIn("kind", doc)
                    if doc["kind"] != "Kustomization":
                        self.assertTrue(doc.get("metadata", {}).get("name"))

    def test_every_file_is_used(self):
        reached: set[Path] = set()
        for root in ENTRY_POINTS:
            reached |= set().union(*kustomization_tree(root))
        for path in sorted(K8S.rglob("*.yaml")):
            with self.subTest(file=str(path.relative_to(K8S))):
                self.assertIn(path.resolve(), reached,
                              "reached from neither docker/k8s/ nor docker/k8s/lab/")

    def test_the_servers_and_the_lab_are_apart(self):
        # Applying the servers starts no load test, and the lab brings no servers of its own
        servers, lab = set().union(*kustomization_tree(K8S)), set().union(*kustomization_tree(LAB))
        self.assertFalse(servers & lab, "a file is reached from both docker/k8s/ and docker/k8s/lab/")
        self.assertFalse([p for p in servers if LAB.resolve() in p.parents], "docker/k8s/ reaches into lab/")
        # Nor do the wrk lab and the distributed generators start each other: both load servers
        load = set().union(*kustomization_tree(LOAD))
        self.assertFalse((servers | lab) & load, "docker/k8s/lab/load/ shares a file with the servers or the lab")

    def test_one_deployment_not_five_copies(self):
        # The Deployment and Service are written once, in the base; overlays patch only
        # what sizes their model.
        _, resources, patches = kustomization_tree(K8S)
        written = {}
        for path in resources:
            with path.open() as f:
                for doc in yaml.safe_load_all(f):
                    if doc:
                        written.setdefault(doc["kind"], []).append(path.relative_to(K8S).as_posix())
        self.assertEqual(written.get("Deployment"), ["base/deployment.yaml"])
        self.assertEqual(written.get("Service"), ["base/service.yaml"])
        for path in patches:
            with self.subTest(patch=path.relative_to(K8S).as_posix()), path.open() as f:
                patch = yaml.safe_load(f)
                self.assertEqual((patch["kind"], patch["metadata"]["name"]), ("Deployment", "cvp"))
                for container in patch["spec"]["template"]["spec"]["containers"]:
                    self.assertLessEqual(set(container), {"name", "env", "resources"},
                                         "an overlay sets the mode and its sizing; the rest is the base's")

    def test_the_overlays_are_the_models(self):
        self.assertEqual(sorted(p.name for p in OVERLAYS.iterdir() if p.is_dir()), sorted(MODES))
        # docker/k8s/ lists them itself: one way to apply the five, not a second in overlays/
        self.assertFalse((OVERLAYS / "kustomization.yaml").exists(), "docker/k8s/ already applies the five")
        self.assertEqual(load_kustomization(K8S)["resources"], [f"overlays/{m}" for m in MODES])
        self.assertEqual(load_kustomization(LAB)["resources"], ["job.yaml"])

    def test_top_level_renders_every_model_and_no_job(self):
        ids = sorted(by_id(self.docs))
        expected = sorted([("Deployment", f"cvp-{m}") for m in MODES] + [("Service", f"cvp-{m}") for m in MODES])
        self.assertEqual(ids, expected)
        self.assertNotIn("Job", {d["kind"] for d in self.docs}, "applying the servers must not start the lab")

    def test_lab_renders_the_job_alone(self):
        self.assertEqual(sorted(by_id(self.lab_docs)), [("Job", "cvp-lab")])
        (container,) = find(self.lab_docs, "Job", "cvp-lab")["spec"]["template"]["spec"]["containers"]
        # Its image is named in lab/kustomization.yaml, as the servers' is in base/
        images = {i["name"]: i for i in load_kustomization(LAB).get("images", [])}
        self.assertIn("cvp-lab", images)
        self.assertEqual(container["image"], f"{images['cvp-lab']['newName']}:{images['cvp-lab']['newTag']}")
        self.assertNotIn("images", load_kustomization(K8S), "the servers' image is set in base/ only")

    def test_each_overlay_renders_its_model_alone(self):
        everything = by_id(self.docs)
        for mode in MODES:
            with self.subTest(mode=mode):
                docs = by_id(kustomize(OVERLAYS / mode))
                self.assertEqual(sorted(docs), [("Deployment", f"cvp-{mode}"), ("Service", f"cvp-{mode}")])
                (container,) = docs["Deployment", f"cvp-{mode}"]["spec"]["template"]["spec"]["containers"]
                self.assertEqual(env_of(container).get("CVP_MODE"), mode)
                self.assertEqual(docs["Service", f"cvp-{mode}"]["spec"]["selector"]["app.kubernetes.io/instance"],
                                 f"cvp-{mode}")
                # Composed with the others, it is the same
                for key, doc in docs.items():
                    self.assertEqual(doc, everything[key], key)

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
                        self.assertFalse(selector.items() <= other_labels.items(),
                                         f"Deployment cvp-{mode} also selects cvp-{other}'s pods")
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
        allowed = self.known | PENDING_VARIABLES
        for mode in MODES:
            with self.subTest(mode=mode):
                _, _, container = self._server(mode)
                env = env_of(container)
                self.assertEqual(env.get("CVP_MODE"), mode)
                self.assertEqual(len(env), len(container["env"]), "a variable is set twice")
                for name, value in env.items():
                    self.assertIn(name, allowed, f"{name} is not a flag in docs/API.md")
                    if name in FROM_SECRETS:  # valueFrom: see DatabaseManifests
                        continue
                    # The API server rejects numbers and booleans as env values
                    self.assertIsInstance(value, str, f"{name} must be a quoted string")
                if "CVP_DRAIN_TIMEOUT" in env:
                    duration_s(env["CVP_DRAIN_TIMEOUT"])

    def test_pending_flags_are_documented(self):
        missing = sorted(PENDING_VARIABLES - self.known)
        if missing:
            self.skipTest(f"docs/API.md does not list {', '.join(missing)} yet (issue 10)")

    def test_cpu_limit_matches_threads(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                _, _, container = self._server(mode)
                resources = container["resources"]
                limit = cpu_quantity(resources["limits"]["cpu"])
                self.assertGreaterEqual(limit, 1)
                threads = threads_running_work(mode, env_of(container))
                if threads is None:
                    continue  # `threads`: test_models_share_their_cpus and the memory test
                # The server sizes itself as ceil(quota); a stated count must agree with it
                self.assertEqual(math.ceil(limit), threads, f"limits.cpu {limit} vs {threads} threads")

    def test_models_share_their_cpus(self):
        # A comparison of the multi-threaded models means as much as their CPUs are equal
        limits = {mode: cpu_quantity(self._server(mode)[2]["resources"]["limits"]["cpu"]) for mode in MODES}
        self.assertEqual(limits.pop("single"), 1, "single runs one thread")
        self.assertEqual(len(set(limits.values())), 1, limits)

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

    def test_pinning_is_off(self):
        # Under the default CPU manager policy the pod's affinity is the whole node
        for mode in PINNING_MODES:
            with self.subTest(mode=mode):
                self.assertEqual(env_of(self._server(mode)[2]).get("CVP_PIN"), "off")

    def test_threads_memory_covers_its_connections(self):
        _, _, container = self._server("threads")
        env = env_of(container)
        self.assertIn("CVP_MAX_CONNECTIONS", env, "the cap is what bounds the threads: state it")
        needed, cap, stack = threads_memory_needed(env, self.base_memory)
        limit = memory_quantity(container["resources"]["limits"]["memory"])
        why = f"{cap} connections x ({stack // 1024} KiB stack + {THREAD_OVERHEAD_BYTES // 1024} KiB) + base"
        self.assertGreaterEqual(limit, needed, f"limit {limit >> 20} MiB < {needed >> 20} MiB: {why}")
        self.assertLessEqual(limit, needed * 1.25, f"limit {limit >> 20} MiB is far above {why}")
        for mode in MODES:
            if mode != "threads":
                limit = self._server(mode)[2]["resources"]["limits"]["memory"]
                self.assertEqual(memory_quantity(limit), self.base_memory, f"{mode} keeps the base's memory")

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
                self.assertTrue(container["securityContext"]["readOnlyRootFilesystem"])

    def test_lab_job_targets_the_services(self):
        job = find(self.lab_docs, "Job", "cvp-lab")
        (container,) = job["spec"]["template"]["spec"]["containers"]
        script = " ".join(container.get("command", []) + container.get("args", []))
        expected = []
        for mode in MODES:
            service = find(self.docs, "Service", f"cvp-{mode}")
            expected.append(f"http://cvp-{mode}:{service['spec']['ports'][0]['port']}")
        self.assertEqual(re.findall(r"--target\s+(\S+)", script), expected)
        # It may be applied right after the servers: lab-targets must wait for every
        # Service's /readyz longer than its default
        wait = re.search(r"--wait\s+(\d+)", script)
        self.assertTrue(wait and int(wait.group(1)) > 120, "no --wait beyond lab-targets' 120 s")
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        out = re.search(r"--out\s+(\S+)", script).group(1)
        self.assertIn(out, mounts)

    @unittest.skipUnless(shutil.which("kubectl"), "kubectl is not installed")
    def test_kubectl_renders_the_same(self):
        for directory in [K8S, LAB, LOAD, BASE, *(OVERLAYS / m for m in MODES)]:
            with self.subTest(directory=directory.relative_to(K8S).as_posix() or "."):
                result = run_tool(["kubectl", "kustomize", str(directory)])
                self.assertEqual(result.returncode, 0, result.stderr)
                theirs = by_id([d for d in yaml.safe_load_all(result.stdout) if d])
                ours = by_id(kustomize(directory))
                self.assertEqual(sorted(theirs), sorted(ours))
                for key in ours:
                    self.assertEqual(theirs[key], ours[key], key)


class DatabaseManifests(unittest.TestCase):
    """docker/k8s/database: the Secret the connection strings go in, and the PostgreSQL that reads it."""

    @classmethod
    def setUpClass(cls):
        cls.docs = kustomize(DATABASE)
        cls.secret = find(cls.docs, "Secret", "cvp-db")
        cls.deployment = find(cls.docs, "Deployment", "cvp-postgres")
        cls.service = find(cls.docs, "Service", "cvp-postgres")

    def test_it_renders_the_secret_the_database_and_its_service(self):
        self.assertEqual(sorted(by_id(self.docs)), [("Deployment", "cvp-postgres"), ("Secret", "cvp-db"),
                                                    ("Service", "cvp-postgres")])

    def test_the_servers_read_the_conninfo_from_the_secret_and_run_without_it(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                deployment = find(kustomize(OVERLAYS / mode), "Deployment", f"cvp-{mode}")
                env = env_of(deployment["spec"]["template"]["spec"]["containers"][0])
                ref = env["CVP_DB"]["secretKeyRef"]
                self.assertEqual(ref["name"], self.secret["metadata"]["name"])
                self.assertIn(ref["key"], self.secret["stringData"])
                self.assertIs(ref["optional"], True, "without the database the other endpoints serve")

    def test_the_conninfo_names_the_service_and_the_same_password(self):
        data = self.secret["stringData"]
        conninfo = dict(pair.split("=", 1) for pair in data["conninfo"].split())
        port = self.service["spec"]["ports"][0]["port"]
        self.assertEqual({k: conninfo[k] for k in ("host", "port", "dbname", "user")},
                         {"host": self.service["metadata"]["name"], "port": str(port), "dbname": "cvp", "user": "cvp"})
        self.assertEqual(conninfo["password"], data["password"])

    def test_the_database_takes_its_password_from_the_secret_file(self):
        pod = self.deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        path = env_of(container)["CVP_DB_PASSWORD_FILE"]
        (volume,) = [v for v in pod["volumes"] if "secret" in v]
        self.assertEqual(volume["secret"]["secretName"], "cvp-db")
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
        (item,) = volume["secret"]["items"]
        self.assertEqual(path, f"{mount['mountPath']}/{item['path']}")
        self.assertEqual(item["key"], "password")

    def test_it_runs_as_the_images_user_on_the_image_built_here(self):
        pod = self.deployment["spec"]["template"]["spec"]
        stage = dockerfile_stages()["postgres"]
        (user,) = instructions(stage, "USER")
        uid, _, gid = user.partition(":")
        self.assertEqual(str(pod["securityContext"]["runAsUser"]), uid)
        self.assertEqual(str(pod["securityContext"]["runAsGroup"]), gid)
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        self.assertEqual(pod["containers"][0]["image"], "cvp-postgres:latest")
        # Its data folder is a volume where the image keeps PGDATA
        (volume,) = instructions(stage, "VOLUME")
        mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        self.assertIn(volume, mounts)

    def test_the_service_selects_the_database_alone(self):
        selector = self.service["spec"]["selector"]
        labels = self.deployment["spec"]["template"]["metadata"]["labels"]
        self.assertLessEqual(selector.items(), labels.items())
        for mode in MODES:
            server = find(kustomize(OVERLAYS / mode), "Service", f"cvp-{mode}")["spec"]["selector"]
            self.assertFalse(server.items() <= labels.items(), f"cvp-{mode}'s Service would select the database")


#: What the fake cvp-load of DistributedGenerators does: a run records its flags in its JSON
#: file (a few buckets for the histogram); `merge` writes the files it was given, in order.
FAKE_CVP_LOAD = """\
import json, sys
args = sys.argv[1:]
def flag(name):
    return args[args.index(name) + 1]
if args[0] == "merge":
    inputs = args[1:args.index("--json")]
    merged = {"tool": "cvp-load", "generators": len(inputs), "inputs": [json.load(open(f)) for f in inputs]}
    json.dump(merged, open(flag("--json"), "w"))
    sys.exit(0)
urls = [a for a in args[:next((k for k, a in enumerate(args) if a.startswith("--")), len(args))]]
result = {"tool": "cvp-load", "argv": args, "urls": urls, "rate_asked": float(flag("--rate")),
          "seed": int(flag("--seed")), "arrival": flag("--arrival"),
          "histogram": {"count": 3, "buckets": [[100, 1], [200, 2]]}}
json.dump(result, open(flag("--json"), "w"), indent=1)
print("fake cvp-load:", " ".join(args))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    """Kill a script started in a session of its own, with its children (perl, cvp-load):
    they hold its output pipe open."""
    if proc.poll() is None:
        os.killpg(proc.pid, 9)
    proc.communicate()


def between(text: str, begin: str, end: str = "--- end ---") -> str:
    """The lines between a marker line and the end marker, as the README's sed takes them."""
    lines = text.splitlines()
    start = lines.index(begin)
    return "\n".join(lines[start + 1:lines.index(end, start)])


class DistributedGenerators(unittest.TestCase):
    """docker/k8s/lab/load: N cvp-load pods at rate/N (an Indexed Job) and the merge of their
    histograms (a Job behind a Service), rendered; then their commands run here, N of them,
    against a fake cvp-load and a local /readyz."""

    @classmethod
    def setUpClass(cls):
        cls.docs = kustomize(LOAD)
        cls.settings = find(cls.docs, "ConfigMap", "cvp-load")["data"]
        cls.job = find(cls.docs, "Job", "cvp-load")
        cls.merge = find(cls.docs, "Job", "cvp-load-merge")
        cls.service = find(cls.docs, "Service", "cvp-load-merge")
        (cls.generator,) = cls.job["spec"]["template"]["spec"]["containers"]
        (cls.merger,) = cls.merge["spec"]["template"]["spec"]["containers"]

    @staticmethod
    def script(container: dict) -> str:
        """The shell script a container runs: `bash -c` and its one argument."""
        assert container["command"] == ["bash", "-c"], container["command"]
        (script,) = container["args"]
        return script

    def test_it_renders_the_generators_their_settings_and_the_merge(self):
        self.assertEqual(sorted(by_id(self.docs)), [("ConfigMap", "cvp-load"), ("Job", "cvp-load"),
                                                    ("Job", "cvp-load-merge"), ("Service", "cvp-load-merge")])
        self.assertEqual(load_kustomization(LOAD)["resources"], ["settings.yaml", "generators.yaml", "merge.yaml"])

    def test_n_indexed_pods_run_at_once(self):
        spec = self.job["spec"]
        self.assertEqual(spec["completionMode"], "Indexed")
        n = int(self.settings["CVP_LOAD_GENERATORS"])
        self.assertEqual(n, 2, "the default N")
        self.assertEqual(spec["completions"], n)
        self.assertEqual(spec["parallelism"], n, "all N at once, or their loads would not add up")
        # A pod rerun later would not overlap the others
        self.assertEqual(spec["backoffLimit"], 0)
        self.assertEqual(self.merge["spec"]["backoffLimit"], 0)
        for job in (self.job, self.merge):
            self.assertEqual(job["spec"]["template"]["spec"]["restartPolicy"], "Never")

    def test_both_read_the_same_settings(self):
        for container in (self.generator, self.merger):
            with self.subTest(container=container["name"]):
                self.assertEqual(container["envFrom"], [{"configMapRef": {"name": "cvp-load"}}])
        for name, value in self.settings.items():
            self.assertIsInstance(value, str, f"{name}: a ConfigMap holds strings")
        # Every setting the scripts read exists (set -u would stop them otherwise), and none is unused
        read = set(re.findall(r"\b(CVP_LOAD_[A-Z_]+)", self.script(self.generator) + self.script(self.merger)))
        given = set(self.settings) | {e["name"] for c in (self.generator, self.merger) for e in c.get("env", [])}
        self.assertEqual(read, given)
        float(self.settings["CVP_LOAD_RATE"]), float(self.settings["CVP_LOAD_DURATION"])
        self.assertIn(self.settings["CVP_LOAD_ARRIVAL"], ("constant", "poisson"))

    def test_the_generators_run_cvp_load_from_the_runtime_image(self):
        images = {i["name"]: i for i in load_kustomization(LOAD)["images"]}
        base_images = {i["name"]: i for i in load_kustomization(BASE)["images"]}
        # The servers' image, named the same way: it is the one that carries cvp-load
        self.assertEqual(images["cvp"], base_images["cvp"])
        expected = f"{images['cvp']['newName']}:{images['cvp']['newTag']}"
        for container in (self.generator, self.merger):
            self.assertEqual(container["image"], expected)
        copy_line = " ".join(instructions(dockerfile_stages()["runtime"], "COPY"))
        self.assertIn("cvp-load", copy_line)
        script = self.script(self.generator)
        # The one cvp-load command, its continuation lines joined
        (run,) = [line for line in script.splitlines() if re.match(r"\s*cvp-load ", line)]
        call = re.sub(r"\\\n\s*", " ", script[script.index(run):].split("||")[0])
        for flag, value in (("--rate", '"$rate"'), ("--seed", '"$seed"'), ("--json", '"$out"'),
                            ("--arrival", '"$CVP_LOAD_ARRIVAL"'), ("--duration", '"$CVP_LOAD_DURATION"')):
            self.assertRegex(call, rf"{flag} {re.escape(value)}", f"cvp-load is not given {flag}")
        self.assertIn('"${urls[@]}"', call)
        # The JSON file is on the emptyDir: the root filesystem is read-only
        mounts = {m["mountPath"]: m["name"] for m in self.generator["volumeMounts"]}
        out = env_of(self.generator)["CVP_LOAD_OUT"]
        volumes = {v["name"]: v for v in self.job["spec"]["template"]["spec"]["volumes"]}
        self.assertIn("emptyDir", volumes[mounts[out]])

    def test_the_merge_calls_cvp_load_merge(self):
        script = self.script(self.merger)
        (line,) = [line for line in script.splitlines() if "cvp-load merge" in line]
        self.assertRegex(line, r'^\s*cvp-load merge "\$\{files\[@\]\}" --json \S+')
        # on the N files the collector wrote, in index order
        self.assertIn('for ((i = 0; i < n; i++)); do files+=("$dir/$i.json"); done', script)
        self.assertIn("set -euo pipefail", script, "a failed collection must not merge what is there")

    def test_rate_and_seed_per_index(self):
        script = self.script(self.generator)
        self.assertIn('rate=$(awk -v total="$CVP_LOAD_RATE" -v n="$n"', script)
        self.assertIn("seed=$((CVP_LOAD_SEED + i))", script)
        self.assertIn("i=$JOB_COMPLETION_INDEX", script)

    def test_the_collector_service_reaches_the_merge_pod_alone(self):
        host, port = self.settings["CVP_LOAD_COLLECTOR"].rsplit(":", 1)
        self.assertEqual(host, self.service["metadata"]["name"])
        (sport,) = self.service["spec"]["ports"]
        self.assertEqual(sport["port"], int(port))
        (cport,) = self.merger["ports"]
        self.assertIn(sport["targetPort"], (cport["name"], cport["containerPort"]))
        self.assertEqual(cport["containerPort"], int(port), "the collector listens on CVP_LOAD_COLLECTOR's port")
        selector = self.service["spec"]["selector"].items()
        self.assertLessEqual(selector, self.merge["spec"]["template"]["metadata"]["labels"].items())
        self.assertFalse(selector <= self.job["spec"]["template"]["metadata"]["labels"].items(),
                         "the Service would select the generators")
        for mode in MODES:
            labels = find(kustomize(K8S), "Deployment", f"cvp-{mode}")["spec"]["template"]["metadata"]["labels"]
            self.assertFalse(selector <= labels.items(), f"the Service would select cvp-{mode}")
            self.assertFalse(find(kustomize(K8S), "Service", f"cvp-{mode}")["spec"]["selector"].items()
                             <= self.job["spec"]["template"]["metadata"]["labels"].items(),
                             f"cvp-{mode}'s Service would select the generators")

    def test_the_target_is_a_server_service(self):
        m = re.fullmatch(r"http://([a-z0-9-]+):(\d+)", self.settings["CVP_LOAD_TARGET"])
        self.assertTrue(m, "CVP_LOAD_TARGET is http://SERVICE:PORT")
        service = find(kustomize(K8S), "Service", m.group(1))
        self.assertEqual(service["spec"]["ports"][0]["port"], int(m.group(2)))
        for path in self.settings["CVP_LOAD_PATHS"].split():
            self.assertRegex(path, r"^(\d+@)?/")

    def test_resources_are_limited(self):
        # A generator is one thread: one whole CPU, never throttled (Guaranteed QoS)
        resources = self.generator["resources"]
        for what in ("cpu", "memory"):
            self.assertEqual(str(resources["requests"][what]), str(resources["limits"][what]))
        self.assertEqual(cpu_quantity(resources["limits"]["cpu"]), 1)
        resources = self.merger["resources"]
        self.assertLessEqual(cpu_quantity(resources["limits"]["cpu"]), 1)
        memory_quantity(resources["limits"]["memory"]), memory_quantity(resources["requests"]["memory"])
        self.assertIn("cpu", resources["requests"])

    def test_deadlines_cover_the_waits(self):
        s = self.settings
        # target's /readyz, the start barrier and the hand-in each wait up to CVP_LOAD_WAIT
        need = 3 * int(s["CVP_LOAD_WAIT"]) + float(s["CVP_LOAD_WARMUP"]) + float(s["CVP_LOAD_DURATION"]) + 10
        for job in (self.job, self.merge):
            self.assertGreater(job["spec"]["activeDeadlineSeconds"], need, job["metadata"]["name"])
            self.assertIn("ttlSecondsAfterFinished", job["spec"])

    def test_security_context(self):
        for job in (self.job, self.merge):
            with self.subTest(job=job["metadata"]["name"]):
                pod = job["spec"]["template"]["spec"]
                self.assertTrue(pod["securityContext"]["runAsNonRoot"])
                self.assertEqual(pod["securityContext"]["runAsUser"], runtime_uid())
                self.assertIs(pod["automountServiceAccountToken"], False, "no API access is needed")
                (container,) = pod["containers"]
                self.assertFalse(container["securityContext"]["allowPrivilegeEscalation"])
                self.assertTrue(container["securityContext"]["readOnlyRootFilesystem"])

    @unittest.skipUnless(shutil.which("bash") and shutil.which("perl") and shutil.which("awk"),
                         "bash, perl and awk run the Jobs' scripts")
    def test_the_scripts_run_n_generators_and_merge_them(self):
        n, total, base_seed = 3, "1000.5", 7

        class Ready(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200 if self.path == "/readyz" else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Ready)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        tmp = Path(tempfile.mkdtemp(prefix="cvp-load-k8s-"))
        self.addCleanup(shutil.rmtree, tmp, True)
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        fake = bin_dir / "cvp-load"
        fake.write_text(f"#!{sys.executable}\n" + FAKE_CVP_LOAD)
        fake.chmod(0o755)
        env = {**os.environ, **self.settings,
               "PATH": f"{bin_dir}:{os.environ['PATH']}",
               "CVP_LOAD_TARGET": f"http://127.0.0.1:{server.server_address[1]}",
               "CVP_LOAD_PATHS": "/plaintext 9@/io/sleep?ms=1",
               "CVP_LOAD_COLLECTOR": f"127.0.0.1:{free_port()}",
               "CVP_LOAD_GENERATORS": str(n), "CVP_LOAD_RATE": total, "CVP_LOAD_SEED": str(base_seed),
               "CVP_LOAD_WAIT": "20"}

        def start(container: dict, out: Path, **more) -> subprocess.Popen:
            out.mkdir()
            return subprocess.Popen(["bash", "-c", self.script(container)], env={**env, "CVP_LOAD_OUT": str(out), **more},
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)

        procs = {"merge": start(self.merger, tmp / "merge")}
        for i in range(n - 1):
            procs[i] = start(self.generator, tmp / f"gen{i}", JOB_COMPLETION_INDEX=str(i))
        try:
            # N-1 are ready and wait for the last: none has run yet
            time.sleep(3)
            for i in range(n - 1):
                self.assertFalse((tmp / f"gen{i}" / "result.json").exists(), f"generator {i} started before all were ready")
                self.assertIsNone(procs[i].poll(), f"generator {i} gave up waiting")
            procs[n - 1] = start(self.generator, tmp / f"gen{n - 1}", JOB_COMPLETION_INDEX=str(n - 1))
            logs = {key: p.communicate(timeout=60)[0] for key, p in procs.items()}
        finally:
            for p in procs.values():
                stop(p)
        for key, p in procs.items():
            self.assertEqual(p.returncode, 0, f"{key}: {logs[key]}")

        results = []
        for i in range(n):
            result = json.loads((tmp / f"gen{i}" / "result.json").read_text())
            # Its JSON is in its log too, between the markers the README's sed reads
            self.assertEqual(json.loads(between(logs[i], f"--- cvp-load json {i} ---")), result)
            results.append(result)
        # Each pod runs at total/N: the shares add up to the total, the decimal kept
        rates = [r["rate_asked"] for r in results]
        self.assertEqual(rates, [float(total) / n] * n)
        self.assertAlmostEqual(sum(rates), float(total), places=6)
        # A seed of its own per index
        self.assertEqual([r["seed"] for r in results], [base_seed + i for i in range(n)])
        for r in results:
            self.assertEqual(r["urls"], [env["CVP_LOAD_TARGET"] + "/plaintext",
                                         "9@" + env["CVP_LOAD_TARGET"] + "/io/sleep?ms=1"])
            self.assertEqual(r["arrival"], self.settings["CVP_LOAD_ARRIVAL"])
            self.assertIn("--warmup", r["argv"])
        # The merge got the N results, in index order, and printed what cvp-load merge wrote
        merged = json.loads((tmp / "merge" / "merged.json").read_text())
        self.assertEqual(merged["inputs"], results)
        self.assertEqual(json.loads(between(logs["merge"], "--- merged json ---")), merged)
        self.assertIn(f"go: all {n} generators start", logs["merge"])

    @unittest.skipUnless(shutil.which("bash") and shutil.which("perl"), "bash and perl run the Jobs' scripts")
    def test_the_collector_counts_an_index_once_and_refuses_strangers(self):
        port = free_port()
        tmp = Path(tempfile.mkdtemp(prefix="cvp-load-k8s-"))
        self.addCleanup(shutil.rmtree, tmp, True)
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        fake = bin_dir / "cvp-load"
        fake.write_text(f"#!{sys.executable}\n" + FAKE_CVP_LOAD)
        fake.chmod(0o755)
        env = {**os.environ, **self.settings, "PATH": f"{bin_dir}:{os.environ['PATH']}",
               "CVP_LOAD_COLLECTOR": f"127.0.0.1:{port}", "CVP_LOAD_GENERATORS": "2", "CVP_LOAD_OUT": str(tmp)}
        proc = subprocess.Popen(["bash", "-c", self.script(self.merger)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)

        def send(data: bytes) -> bytes:
            for _ in range(100):
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                        s.sendall(data)
                        s.shutdown(socket.SHUT_WR)  # all sent: a short body ends here
                        return s.makefile("rb").readline()
                except ConnectionRefusedError:
                    time.sleep(0.1)
            raise AssertionError("the collector does not listen")

        try:
            self.assertEqual(send(b"hello\n"), b"")
            self.assertEqual(send(b"result 2 2\n{}"), b"", "index 2 of N=2")
            self.assertEqual(send(b"result 0 9\n{}"), b"", "a short body is not a result")
            self.assertEqual(send(b'result 0 8\n{"a": 1}'), b"ok\n")
            self.assertEqual(send(b'result 0 8\n{"a": 2}'), b"ok\n")   # a retry replaces it
            self.assertIsNone(proc.poll(), "one index twice is not two generators")
            self.assertEqual(send(b'result 1 8\n{"b": 3}'), b"ok\n")
            out = proc.communicate(timeout=30)[0]
        finally:
            stop(proc)
        self.assertEqual(proc.returncode, 0, out)
        self.assertEqual(json.loads(between(out, "--- merged json ---"))["inputs"], [{"a": 2}, {"b": 3}])


#: The services every model's server depends on in compose.yaml: what /io/http and /db/* call.
DEPENDENCIES = ("postgres", "cvp-downstream")


class ComposeFile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with COMPOSE.open() as f:
            cls.compose = yaml.safe_load(f)
        cls.services = cls.compose["services"]
        cls.known = known_variables() | PENDING_VARIABLES

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

    def test_the_models_call_the_downstream_and_query_the_database(self):
        down, pg = self.services["cvp-downstream"], self.services["postgres"]
        self.assertEqual(pg["build"]["target"], "postgres")
        self.assertIn("CVP_DB_PASSWORD", pg["environment"])
        self.assertEqual(down["environment"]["CVP_MODE"], "reactors")
        self.assertNotIn("CVP_UPSTREAM", down["environment"], "the downstream calls no one")
        for mode in MODES:
            with self.subTest(mode=mode):
                service = self.services[f"cvp-{mode}"]
                self.assertEqual(set(service["depends_on"]), set(DEPENDENCIES), "--upstream resolves at start-up")
                env = service["environment"]
                self.assertEqual(env["CVP_UPSTREAM"], f"http://cvp-downstream:{PORT}")
                conninfo = dict(pair.split("=", 1) for pair in env["CVP_DB"].split())
                self.assertEqual({k: conninfo[k] for k in ("host", "port", "dbname", "user")},
                                 {"host": "postgres", "port": "5432", "dbname": "cvp", "user": "cvp"})
                # The same password the database's role gets, from one variable.
                self.assertEqual(conninfo["password"], pg["environment"]["CVP_DB_PASSWORD"])

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
        for name in [f"cvp-{mode}" for mode in MODES] + ["cvp-downstream"]:
            (mapping,) = self.services[name]["ports"]
            # "127.0.0.1:${VAR:-8081}:8080": the default after substitution
            mapping = re.sub(r"\$\{[A-Z_]+:-(\d+)\}", r"\1", mapping)
            *host, container = mapping.split(":")
            self.assertEqual(int(container), PORT)
            host_ports.append(int(host[-1]))
        self.assertEqual(len(set(host_ports)), len(MODES) + 1, host_ports)

    def _limits(self, mode: str) -> dict:
        return self.services[f"cvp-{mode}"].get("deploy", {}).get("resources", {}).get("limits", {})

    def test_cpu_limits(self):
        limits = {}
        for mode in MODES:
            with self.subTest(mode=mode):
                service = self.services[f"cvp-{mode}"]
                limit = self._limits(mode).get("cpus", service.get("cpus"))
                self.assertIsNotNone(limit, "no CPU limit")
                limits[mode] = float(limit)
                self.assertGreaterEqual(limits[mode], 1)
        self.assertEqual(limits.pop("single"), 1, "single runs one thread")
        # The multi-threaded models compare on equal CPUs
        self.assertEqual(len(set(limits.values())), 1, limits)

    def test_threads_memory_covers_its_connections(self):
        env = self.services["cvp-threads"]["environment"]
        self.assertIn("CVP_MAX_CONNECTIONS", env, "the cap is what bounds the threads: state it")
        (base,) = [d for d in kustomize(BASE) if d["kind"] == "Deployment"]
        base_memory = memory_quantity(base["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"])
        needed, cap, stack = threads_memory_needed({k: str(v) for k, v in env.items()}, base_memory)
        limit = self._limits("threads").get("memory")
        self.assertIsNotNone(limit, "no memory limit")
        limit = compose_bytes(limit)
        self.assertGreaterEqual(limit, needed, f"{cap} connections x {stack // 1024} KiB stacks")
        self.assertLessEqual(limit, needed * 1.25)

    def test_stop_grace_exceeds_drain(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                service = self.services[f"cvp-{mode}"]
                drain = duration_s(service["environment"].get("CVP_DRAIN_TIMEOUT", "10s"))
                self.assertGreater(compose_duration_s(service["stop_grace_period"]), drain)
                self.assertEqual(service.get("stop_signal", "SIGTERM"), "SIGTERM")

    def test_loadtest_targets_the_five(self):
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
                           "-f", str(COMPOSE), "up", "-d", "--no-build", *DEPENDENCIES, *(f"cvp-{m}" for m in MODES)])
        self.assertEqual(result.returncode, 0, result.stderr + result.stdout)
        runs = [l for l in result.stdout.splitlines() if re.match(r"\S*true run ", l)]
        self.assertEqual(len(runs), len(MODES) + len(DEPENDENCIES), result.stdout)
        self.assertTrue(any("--network-alias postgres" in l for l in runs), result.stdout)
        runs = [l for l in runs if "-e CVP_MODE=" in l and "--network-alias cvp-downstream" not in l]
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
        # Only the two binaries come from the build stage, in one layer, onto the PATH
        (copy,) = instructions(runtime, "COPY")
        words = copy.split()
        self.assertEqual(words[0], "--from=build")
        self.assertEqual(sorted(Path(w).name for w in words[1:-1]), ["cvp-load", "cvp-server"])
        self.assertEqual(words[-1], "/usr/local/bin/")
        # The library check covers the generator too
        (check,) = [r for r in instructions(runtime, "RUN") if "ldd" in r]
        self.assertIn("/usr/local/bin/cvp-server", check)
        self.assertIn("/usr/local/bin/cvp-load", check)

    def test_build_stage_builds_only_the_server_and_the_generator(self):
        build = self.stages["build"]
        run = " ".join(instructions(build, "RUN"))
        self.assertIn("cmake --preset release", run)
        self.assertIn("-DBUILD_TESTING=OFF", run)
        targets = re.search(r"--target((?:\s+[\w-]+)+)", run).group(1).split()
        self.assertEqual(sorted(targets), ["cvp-load", "cvp-server"])
        for binary in targets:
            self.assertRegex(run, rf"strip --strip-unneeded[^&]*build/release/{binary}\b")
        # cvp-load's folder alone: the rest of loadtest/ (the lab) stays out of the build layer
        copied = [c.split()[0] for c in instructions(build, "COPY")]
        self.assertIn("loadtest/load/", copied)
        self.assertFalse([c for c in copied if c.rstrip("/") == "loadtest"], "all of loadtest/ in the build stage")

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
