import contextlib

import psutil
import pytest

from tests.fix_agent import cable  # noqa: F401 - fixtures
from tests.fix_broker import production_broker  # noqa: F401 - fixtures
from tests.fix_server import server  # noqa: F401 - fixtures
from tests.fix_services import database_url, mqtt_url, settings  # noqa: F401 - fixtures

PYTHON_HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Tests leave no process behind: anything still running from this run's temporary folders,
    or below this process, fails the run."""
    base = str(session.config._tmp_path_factory.getbasetemp())
    me = psutil.Process()
    left = {p.pid: p for p in me.children(recursive=True)}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if base in " ".join(proc.info["cmdline"] or []):
                left[proc.pid] = proc
    alive = []
    for proc in left.values():
        with contextlib.suppress(psutil.Error):
            if any(helper in " ".join(proc.cmdline()) for helper in PYTHON_HELPERS):
                continue  # the interpreter's own helpers end with this process
            if proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{proc.pid} {' '.join(proc.cmdline())[:160]}")
    if alive:
        session.config.get_terminal_writer().line("processes left behind:\n  " + "\n  ".join(alive), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
