"""Shared test settings.

Cross-checks against optional libraries (PyTorch) skip where the library is missing. CI installs
them all and sets TINYGRAD_BP_NO_SKIPS=1, which turns any skipped test into a failed run.
"""

import os


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("TINYGRAD_BP_NO_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"TINYGRAD_BP_NO_SKIPS=1 but {len(skipped)} test(s) skipped: the run fails", red=True)
        session.exitstatus = 1
