"""cvplab: the cvp load lab.

It starts cvp-server in each execution model, drives it with wrk through the
workloads in ``loadtest/scripts``, and writes results and a report.  The modules:

- ``cli``       flags, validation, exit codes; the entry point
- ``scenarios`` one module per scenario, and the registry that orders them
- ``models``    the server's models, read from ``cvp-server --list-models``
- ``peers``     the declared peers (nginx, Node.js)
- ``profiles``  the quick / full / smoke parameter sets, from the scenarios' own
- ``cpus``      CPU lists, affinity, cgroup limits and CPU placement
- ``plan``      the cell, a run's settings, and the plan built from the registry
- ``procs``     child processes: process groups, CPU accounting, cleanup
- ``servers``   cvp-server, nginx, the Node peer and a remote target behind one interface
- ``wrk``       running wrk and parsing what its Lua ``done()`` prints
- ``stats``     medians, Little's law, saturation; repeats folded into a cell
- ``runner``    executes a plan, prints progress, saves as it goes
- ``manifest``  what the run happened on
- ``cells``     the typed cell (``Measured``) the results code writes and the report reads
- ``results``   results.json and results.csv
- ``report``    report.md / report.html: the verdict matrix, a timeline or two, header, each scenario's section,
                method, and the expectations last, as the lab's self-check
- ``verdict``   the verdict matrix: a row per kind of work, a column per model, the best of each row marked
- ``render``, ``fmt``, ``query``, ``charts``, ``checks``  what the report's parts share
- ``timeline``  the /stats/timeline window fetched mid-run (``--timeline``), and cut from its ``now_ns``
- ``loop_health``  loop lag, utilization and offload's queue wait over a run, from /metrics and /stats
- ``watch``     what a scenario watches around each run (``scenarios.watched`` is the base that does it)
- ``timeline_figures``, ``timeline_charts``, ``timeline_report``  a window's figures and captions, the
                Gantt and lag charts, and the report's timeline and lag parts with their self-check rows
"""

#: Version of the results.json layout (docs/results-format.md).
RESULTS_SCHEMA_VERSION = 3
#: The versions ``--report`` renders: 2 (before the scenario modules, the model list and descriptors) and 3.
READABLE_SCHEMA_VERSIONS = (2, 3)
