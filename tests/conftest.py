"""Shared test settings.

Cross-checks against optional libraries (PyTorch, system Graphviz) skip where they are missing. CI
installs them all and sets TINYGRAD_BP_NO_SKIPS=1, which turns any skipped test into a failed run and
makes hypothesis draw the same examples on every run.
"""

import os

from hypothesis import settings

# CI runs the property tests on the same examples every time (a red CI must come from a change, not
# from a new random draw); elsewhere hypothesis draws afresh and may find something new
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("TINYGRAD_BP_NO_SKIPS") == "1":
    settings.load_profile("ci")

_skipped: list[str] = []


def pytest_runtest_logreport(report):
    """Count skips as each test reports (whatever reporting plugins are on)."""
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("TINYGRAD_BP_NO_SKIPS") != "1" or not _skipped:
        return
    session.exitstatus = 1
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = f"TINYGRAD_BP_NO_SKIPS=1 but {len(_skipped)} test(s) skipped: the run fails ({_skipped[0]}, ...)"
    if reporter:
        reporter.write_line(message, red=True)
    else:
        print(message)
