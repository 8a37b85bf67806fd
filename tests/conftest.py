"""Shared test settings.

Cross-checks against optional libraries (PyTorch, system Graphviz) skip where they are missing. CI
installs them all and sets TINYGRAD_BP_NO_SKIPS=1, which turns any skipped test into a failed run.
"""

import os

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
