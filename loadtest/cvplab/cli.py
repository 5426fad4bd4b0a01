"""The lab's command line: flags, validation, and the run from start to report.

Exit status: 0 everything ran; 1 the run finished but some runs failed (their
errors are in results.json and the report); 2 bad flags; 3 something the lab
needs is missing (wrk, taskset, matplotlib, the server binary, the target);
130 interrupted (partial results are kept).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from . import manifest as manifest_mod
from . import models as models_mod
from . import peers as peers_mod
from . import plan as plan_mod
from . import database, node_packages, openloop, procs, report, results, runner, servers
from .scenarios import NAMES as SCENARIO_NAMES
from .scenarios import REGISTRY
from .cpus import (Placement, allowed_cpus, default_placement, format_cpu_list, parse_cpu_list,
                   read_cgroup_limits, usable_cpus)
from .profiles import PROFILES

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BINARY = REPO_ROOT / "build" / "release" / "cvp-server"
EXIT_OK, EXIT_FAILED_RUNS, EXIT_USAGE, EXIT_ENVIRONMENT, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
#: File descriptors a process needs beyond its connections (listeners, epoll, logs, ...).
FD_MARGIN = 64


class EnvironmentProblem(Exception):
    """Something the lab needs is missing; the message says what and how to get it."""


def choose(text: str, choices: tuple[str, ...], what: str) -> tuple[str, ...]:
    """The names of a comma-separated list, in the order of ``choices``; ValueError for an unknown one."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in choices]
    if not names or unknown:
        raise ValueError(f"unknown {what} {', '.join(unknown) or '(none given)'}; choose from {', '.join(choices)}")
    if len(set(names)) != len(names):
        raise ValueError(f"{what} listed twice")
    return tuple(n for n in choices if n in names)


def _name_list(choices: tuple[str, ...], what: str):
    def parse(text: str) -> tuple[str, ...]:
        try:
            return choose(text, choices, what)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return parse


def _int_in(lo: int, hi: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is outside {lo}..{hi}")
        return value
    return parse


def _cpu_list(text: str) -> tuple[int, ...]:
    try:
        return parse_cpu_list(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _target_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme != "http" or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r}: expected http://host:port")
    try:
        port = parts.port
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text!r}: {e}") from None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(f"{text!r}: give only http://host:port, without a path")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"http://{host}:{port or 80}"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="loadtest/lab",
        description="Drive cvp-server with wrk in each execution model and write results and a report.",
        epilog=f"Scenarios: {', '.join(SCENARIO_NAMES)}. Models: those the server lists (cvp-server --list-models). "
               f"Peers: {', '.join(peers_mod.NAMES)}. Exit status: 0 ok, "
               "1 some runs failed, 2 bad flags, 3 missing tool/binary/target, 130 interrupted. "
               "See docs/results-format.md.")
    prof = p.add_mutually_exclusive_group()
    prof.add_argument("--quick", dest="profile", action="store_const", const="quick",
                      help="short runs of every scenario and model, about 11 minutes on 2 CPUs (default)")
    prof.add_argument("--full", dest="profile", action="store_const", const="full",
                      help="the complete sweeps (io up to 10,000 connections, cpu up to every usable CPU)")
    prof.add_argument("--smoke", dest="profile", action="store_const", const="smoke",
                      help="one tiny cell per scenario and model, one repeat: proves the wiring")
    p.set_defaults(profile="quick")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "results", metavar="DIR",
                   help="results go to DIR/<timestamp>/ (default: results/ in the repository)")
    p.add_argument("--scenarios", type=_name_list(SCENARIO_NAMES, "scenario"), default=SCENARIO_NAMES,
                   metavar="LIST", help="comma-separated subset of: " + ",".join(SCENARIO_NAMES))
    p.add_argument("--models", metavar="LIST",
                   help="comma-separated subset of the models the server lists (cvp-server --list-models; "
                        "default: all)")
    p.add_argument("--repeats", type=_int_in(1, 100), metavar="N", help="measured repeats per cell (profile: 3)")
    p.add_argument("--duration", type=_int_in(1, 3600), metavar="S",
                   help="seconds per measured run, every scenario (wrk takes whole seconds)")
    p.add_argument("--warmup", type=_int_in(0, 600), metavar="S",
                   help="seconds of thrown-away load per server before measuring (0: none)")
    p.add_argument("--server-binary", type=Path, default=DEFAULT_BINARY, metavar="PATH",
                   help="cvp-server to start (default: build/release/cvp-server)")
    p.add_argument("--server-cpus", type=_cpu_list, metavar="LIST", help="CPUs for the server, e.g. 0 or 0-2")
    p.add_argument("--client-cpus", type=_cpu_list, metavar="LIST", help="CPUs for wrk, e.g. 1")
    p.add_argument("--target", type=_target_url, metavar="URL",
                   help="measure a server started elsewhere (http://host:port); its model comes from /stats")
    p.add_argument("--wrk", default="wrk", metavar="PATH", help="wrk binary (default: wrk on PATH)")
    p.add_argument("--cvp-load", type=Path, metavar="PATH",
                   help="the open-loop generator (default: cvp-load beside --server-binary, the same build)")
    p.add_argument("--pbkdf2-iterations", type=_int_in(1, 1_000_000), metavar="N",
                   help="PBKDF2 iterations for cpu, mixed, imbalance and overload (default: calibrated to the "
                        "profile's ms)")
    p.add_argument("--no-nginx", action="store_true",
                   help="leave nginx out of plaintext and overhead even when installed")
    p.add_argument("--no-node", action="store_true", help="leave the Node.js peer out of overhead and db even when installed")
    p.add_argument("--dry-run", action="store_true", help="print the plan and its estimated time, run nothing")
    p.add_argument("--report", type=Path, metavar="RUN_DIR",
                   help="only (re)write report.md, report.html and the charts from RUN_DIR/results.json")
    return p


def resolve_placement(args: argparse.Namespace, allowed: tuple[int, ...]) -> tuple[Placement, list[str]]:
    """The CPU placement from the flags (validated against the allowed CPUs) and warnings."""
    warnings = []
    for flag, cpus in (("--server-cpus", args.server_cpus), ("--client-cpus", args.client_cpus)):
        if cpus is not None and not set(cpus) <= set(allowed):
            raise ValueError(f"{flag} {format_cpu_list(cpus)}: this process may only use CPUs "
                             f"{format_cpu_list(allowed)}")
    default = default_placement(allowed)
    server, client = args.server_cpus, args.client_cpus
    if server is None and client is None:
        server, client = default.server, default.client
    elif server is None:
        server = tuple(c for c in allowed if c not in client) or client
    elif client is None:
        client = tuple(c for c in allowed if c not in server) or server
    placement = Placement(server, client)
    if not placement.disjoint:
        warnings.append(f"server CPUs {format_cpu_list(server)} and wrk CPUs {format_cpu_list(client)} overlap: "
                        "plaintext's overhead figures include wrk's interference")
    return placement, warnings


def _check_tools(args: argparse.Namespace) -> str:
    """Returns wrk's path; raises EnvironmentProblem for anything missing."""
    wrk = shutil.which(args.wrk)
    if wrk is None:
        raise EnvironmentProblem(f"wrk not found ({args.wrk}); on Debian: apt-get install wrk")
    if shutil.which("taskset") is None:
        raise EnvironmentProblem("taskset not found; on Debian: apt-get install util-linux")
    if not args.dry_run:
        if importlib.util.find_spec("matplotlib") is None:
            raise EnvironmentProblem(
                f"matplotlib is missing for {sys.executable}; on Debian: apt-get install python3-matplotlib "
                "(and run the lab with /usr/bin/python3)")
    if args.target is None and not (args.server_binary.is_file() and os.access(args.server_binary, os.X_OK)):
        raise EnvironmentProblem(f"server binary {args.server_binary} is missing or not executable; build it with: "
                                 "cmake --preset release && cmake --build --preset release")
    return wrk


def _out_dir(base: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = base / stamp
    n = 1
    while path.exists():
        n += 1
        path = base / f"{stamp}-{n}"
    path.mkdir(parents=True)
    return path.resolve()


def _on_sigterm(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.target is not None and args.models is not None:
        parser.error("--models cannot be used with --target: the target's model is read from its /stats")
    if args.report is not None:
        return _report_only(args.report)
    allowed = allowed_cpus()
    try:
        placement, warnings = resolve_placement(args, allowed)
    except ValueError as e:
        parser.error(str(e))
    profile = PROFILES[args.profile].with_overrides(repeats=args.repeats, duration_s=args.duration,
                                                    warmup_s=args.warmup)
    registry = procs.ProcessRegistry()
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _run(args, argv, profile, allowed, placement, warnings, registry, parser)
    except EnvironmentProblem as e:
        print(f"lab: {e}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stopped = registry.stop_all()
        print(f"\nlab: interrupted; stopped {len(stopped)} process(es) it had started", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        registry.stop_all()


def _catalog(args, remote) -> models_mod.Catalog:
    """The models: listed by the binary the lab will start; with --target, the one /stats names."""
    if remote is not None:
        return models_mod.Catalog((models_mod.Model(remote.spec.label),))
    try:
        return models_mod.from_binary(args.server_binary.resolve())
    except models_mod.ModelsError as e:
        raise EnvironmentProblem(str(e)) from None


def _run(args, argv, profile, allowed, placement, warnings, registry, parser) -> int:
    started = time.monotonic()
    wrk = _check_tools(args)
    limits = read_cgroup_limits()
    usable = usable_cpus(allowed, limits)
    chosen = [s for s in REGISTRY if s.name in args.scenarios]
    wanted = max(s.connections_wanted(profile.params(s.name), placement) for s in chosen)
    file_limit = procs.raise_file_limit(wanted + FD_MARGIN)
    remote = None
    if args.target is not None:
        try:
            remote = servers.connect_remote(args.target)
        except servers.ServerError as e:
            raise EnvironmentProblem(str(e)) from None
    catalog = _catalog(args, remote)
    try:
        models = choose(args.models, catalog.names, "model") if args.models else catalog.names
    except ValueError as e:
        parser.error(f"argument --models: {e}")

    iterations = args.pbkdf2_iterations
    calibration = None
    needs_cpu = any(s.calibrated for s in chosen)
    if needs_cpu and iterations is None and not args.dry_run:
        calibration = _calibrate(args, remote, placement, profile.cpu_work_ms, registry)
        iterations = calibration["iterations"]
    peers, left_out = _peers(args, remote)
    database_left_out, node_db, node_db_left_out = _database(args, remote, "node" in peers)
    cvp_load, open_loop_left_out = _cvp_load(args)
    settings = plan_mod.Settings(
        profile=profile, scenarios=args.scenarios, models=models, placement=placement,
        pbkdf2_iterations=iterations or 0, max_connections=file_limit.soft - FD_MARGIN,
        nginx="nginx" in peers, node="node" in peers,
        target=remote.spec if remote else None,
        target_accept=(remote.info.get("accept") if remote else None), peers_left_out=left_out, catalog=catalog,
        database_left_out=database_left_out, node_db=node_db, node_db_left_out=node_db_left_out,
        open_loop_left_out=open_loop_left_out)
    plan = plan_mod.build(settings)
    for w in warnings:
        print(f"lab: warning: {w}", file=sys.stderr)
    _print_plan(plan, profile, placement, settings, remote)
    if args.dry_run:
        return EXIT_OK
    if not plan.cells:
        print("lab: nothing to run", file=sys.stderr)
        return EXIT_USAGE

    idle_load = procs.background_cpus()
    if idle_load >= 0.25:
        print(f"lab: warning: other processes keep {idle_load:.1f} of {len(allowed)} CPUs busy; figures will be noisy "
              "(each cell records how busy the machine was)", file=sys.stderr)
    out_dir = _out_dir(args.out)
    options = {k: (format_cpu_list(v) if k.endswith("_cpus") and v else str(v) if isinstance(v, Path) else v)
               for k, v in vars(args).items()}
    options.update(models=list(models), pbkdf2_iterations=iterations,
                   nginx=settings.nginx, node=settings.node, max_connections_per_process=settings.max_connections)
    manifest = manifest_mod.collect(
        repo=REPO_ROOT, argv=["loadtest/lab", *argv], options=options, profile=profile, placement=placement,
        allowed=allowed, limits=limits, usable=usable, file_limit=file_limit, wrk_version=_wrk_version(wrk),
        server_binary=None if remote else args.server_binary.resolve(), target=args.target)
    manifest["calibration"] = calibration
    manifest["lab"]["cvp_load"] = ({"path": str(cvp_load), "help": openloop.version(str(cvp_load))} if cvp_load
                                   else {"left_out": open_loop_left_out})
    manifest["models"] = catalog.to_json()
    manifest["models_from"] = ("/stats of the target (its one model)" if remote else
                               f"{args.server_binary.resolve()} --list-models")
    manifest["host"]["background_cpus_at_start"] = round(idle_load, 2)
    manifest["limits"]["notes"] = [f"{s['scenario']}: skipped {s['what']}: {s['reason']}" for s in plan.skipped
                                   if "open-file" in s["reason"]]
    if not file_limit.enough:
        manifest["limits"]["notes"].insert(0, f"RLIMIT_NOFILE could only be raised to {file_limit.soft} (hard limit "
                                              f"{file_limit.hard}); {file_limit.needed} were wanted")
    if remote:
        manifest["server"]["target_info"] = remote.info
    env = runner.Environment(out_dir=out_dir, wrk=wrk, client_cpus=placement.client, registry=registry,
                             server_binary=None if remote else args.server_binary.resolve(), remote=remote,
                             max_connections=plan.max_connections + FD_MARGIN,
                             cvp_load=str(cvp_load) if cvp_load else None)
    lab = runner.Runner(plan, env, manifest)
    print(f"results: {out_dir}", flush=True)
    status = "complete"
    try:
        lab.run()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        status = "interrupted"
        stopped = registry.stop_all()
        print(f"\nlab: interrupted; stopped {len(stopped)} process(es) it had started; keeping partial results",
              file=sys.stderr)
    manifest_mod.finish(manifest, status=status, wall_s=time.monotonic() - started)
    lab.save()
    doc = results.load(out_dir / "results.json")
    report.write(out_dir, doc)
    manifest_mod.finish(manifest, status=status, wall_s=time.monotonic() - started)
    lab.save()
    print()
    print(report.summary_table(doc["cells"]))
    if lab.failures:
        print(f"\n{len(lab.failures)} problem(s); see results.json (cells[].failures) and the report.")
    print(f"\nreport: {out_dir / 'report.md'}\n        {out_dir / 'report.html'}\n"
          f"results: {out_dir / 'results.json'}  ({_clock(time.monotonic() - started)} in all)")
    if status == "interrupted":
        return EXIT_INTERRUPTED
    return EXIT_FAILED_RUNS if lab.failures else EXIT_OK


def _peers(args, remote) -> tuple[set[str], tuple[tuple[str, str], ...]]:
    """The peers that join (nginx, node), and why each one left out is left out."""
    if remote is not None:
        return set(), ()
    found = {"nginx": servers.find_nginx(), "node": servers.find_node()}
    packages = {p.name: p.package for p in peers_mod.PEERS}
    peers, left_out = set(), []
    for name, flag in (("nginx", args.no_nginx), ("node", args.no_node)):
        if flag:
            left_out.append((name, f"left out with --no-{name}"))
        elif found[name] is None:
            left_out.append((name, f"{name} is not installed (scripts/deps installs Debian's {packages[name]})"))
        else:
            peers.add(name)
    return peers, tuple(left_out)


def _database(args, remote, node: bool) -> tuple[str | None, bool, str | None]:
    """For the db scenario: why PostgreSQL cannot run here (None: it can), and whether the Node peer
    has node-postgres (installed now with npm ci where it is missing, except in a dry run), with why not."""
    if "db" not in args.scenarios or remote is not None:
        return None, False, None
    why = database.available()
    if not node:
        return why, False, None
    if args.dry_run:
        ready = node_packages.installed()
        return why, ready, None if ready else "node-postgres is not installed yet (a real run installs it)"
    install = node_packages.ensure()
    print(f"lab: {install.detail}", file=sys.stderr)
    return why, install.ready, None if install.ready else install.detail


def _cvp_load(args) -> tuple[Path | None, str | None]:
    """The open-loop generator, and why it is left out where it cannot run (None: it can)."""
    if args.cvp_load is not None:
        path = args.cvp_load.resolve()
        if path.is_file() and os.access(path, os.X_OK):
            return path, None
        return None, f"--cvp-load {args.cvp_load} is missing or not executable"
    if args.target is not None:
        return None, "with --target there is no build to take cvp-load from: name it with --cvp-load"
    found = openloop.find_cvp_load(args.server_binary)
    if found is None:
        return None, (f"cvp-load is not built beside {args.server_binary} "
                      "(cmake --build --preset release builds both)")
    return found, None


def _report_only(run_dir: Path) -> int:
    """Rewrites a run's report from its results.json."""
    try:
        doc = results.load(run_dir / "results.json")
        report.catalog_of(doc)
    except (OSError, ValueError, models_mod.ModelsError) as e:
        print(f"lab: --report: {e}", file=sys.stderr)
        return EXIT_USAGE
    if importlib.util.find_spec("matplotlib") is None:
        print("lab: matplotlib is missing; on Debian: apt-get install python3-matplotlib", file=sys.stderr)
        return EXIT_ENVIRONMENT
    report.write(run_dir, doc)
    print(report.summary_table(doc["cells"]))
    print(f"\nreport: {run_dir / 'report.md'}\n        {run_dir / 'report.html'}")
    return EXIT_OK


def _wrk_version(wrk: str) -> str:
    from .wrk import version
    return version(wrk)


def _calibrate(args, remote, placement, target_ms, registry) -> dict:
    """PBKDF2 iterations for about ``target_ms`` per request, measured on a single-mode server."""
    if remote is not None:
        return runner.calibrate_pbkdf2(remote.base_url, target_ms)
    spec = servers.ServerSpec("single", (), placement.server[:1], 1)
    log_dir = Path(os.environ.get("TMPDIR", "/tmp"))
    try:
        server = servers.start_cvp(args.server_binary.resolve(), spec, max_connections=16, log_dir=log_dir,
                                   registry=registry)
    except servers.ServerError as e:
        raise EnvironmentProblem(f"calibration: {e}") from None
    try:
        return runner.calibrate_pbkdf2(server.base_url, target_ms)
    except (OSError, ValueError) as e:
        raise EnvironmentProblem(f"calibration against {spec.description} failed: {e}") from None
    finally:
        server.stop()
        for suffix in (".stdout", ".stderr"):
            if server.stderr_path:
                server.stderr_path.with_suffix(suffix).unlink(missing_ok=True)


def _print_plan(plan, profile, placement, settings, remote) -> None:
    cells = plan.cells
    print(f"cvplab {profile.name}: {len({c.scenario for c in cells})} scenario(s), {len(cells)} cells, "
          f"{plan.runs} measured runs of {plan.repeats} repeat(s), warm-up {plan.warmup_s} s per server; "
          f"estimated {_clock(plan.estimate_s())}")
    if remote:
        print(f"  target {remote.base_url}: mode {remote.spec.label}, parallelism {remote.parallelism} "
              f"(/stats), {remote.spec.workers} worker(s) in the plan")
    else:
        print(f"  {', '.join(s.name for s in REGISTRY if s.apart)}: server on CPU {format_cpu_list(placement.server)}, wrk on CPU "
              f"{format_cpu_list(placement.client)}; other scenarios give the server up to CPU "
              f"{format_cpu_list(placement.all)} and watch wrk")
    if settings.pbkdf2_iterations:
        print(f"  PBKDF2 iterations: {settings.pbkdf2_iterations}")
    print("  estimated per scenario: " + ", ".join(f"{name} {_clock(s)}" for name, s in
                                                     plan.estimate_by_scenario().items()))
    for s in plan.skipped:
        print(f"  skipped in {s['scenario']}: {s['what']} ({s['reason']})")


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}:{s:02d}"
