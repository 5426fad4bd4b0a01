"""cvplab: the cvp load lab.

It starts cvp-server in each execution model, drives it with wrk through the
workloads in ``loadtest/scripts``, and writes results and a report.  The modules:

- ``cli``       flags, validation, exit codes; the entry point
- ``profiles``  the quick / full / smoke parameter sets
- ``cpus``      CPU lists, affinity, cgroup limits and CPU placement
- ``plan``      scenarios turned into groups of cells to run
- ``procs``     child processes: process groups, CPU accounting, cleanup
- ``servers``   cvp-server, nginx, the Node peer and a remote target behind one interface
- ``wrk``       running wrk and parsing what its Lua ``done()`` prints
- ``stats``     medians, Little's law, saturation; repeats folded into a cell
- ``runner``    executes a plan, prints progress, saves as it goes
- ``manifest``  what the run happened on
- ``results``   results.json and results.csv
- ``report``    charts (matplotlib) and report.md / report.html
"""

#: Version of the results.json layout (docs/results-format.md).
RESULTS_SCHEMA_VERSION = 2
