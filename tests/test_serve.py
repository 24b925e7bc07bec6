"""`churnlens serve` against a real Prefect server on 127.0.0.1: a scheduled run tags an inbox file."""
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.services import free_port

BIN = Path(sys.executable).parent


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {proc.returncode}:\n{proc.stdout.read()[-3000:]}")
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def prefect_server():
    home = Path(tempfile.mkdtemp(prefix="churnlens-prefect-"))
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
           "PREFECT_UI_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING"}
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/api"

    def healthy() -> bool:
        try:
            return httpx.get(url + "/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        _wait(healthy, 120, "the Prefect server to start", proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_a_scheduled_deployment_tags_a_dropped_file(prefect_server, tmp_path, encoder):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "survey.csv").write_text("id,comment\ns1,Far too expensive for what it is.\n"
                                      "s2,Nobody answered my three e-mails.\ns3,\n", encoding="utf-8")
    store = tmp_path / "results.duckdb"
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text(f"jobs:\n  - name: test-inbox\n    inbox: {inbox}\n    store: {store}\n"
                        "    interval_seconds: 5\n    min_age_seconds: 0\n", encoding="utf-8")
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "PREFECT_LOGGING_LEVEL": "INFO",
           "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    serve = subprocess.Popen([str(BIN / "churnlens"), "serve", str(schedule)], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        _wait(lambda: list((inbox / "processed").rglob("survey.csv")), 300, "a scheduled run to tag the file", serve)
    finally:
        os.killpg(serve.pid, signal.SIGINT)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
    from pipeline.store import open_store

    with open_store(store) as results:
        counts, runs = results.counts(), results.runs()
    assert counts["records"] == 2 and counts["rejects"] == 1  # read 3 = tagged 2 + rejected 1
    assert runs[0]["status"] == "completed" and runs[0]["read"] == 3
    flow_runs = httpx.post(prefect_server + "/flow_runs/filter", json={"limit": 50}, timeout=10).json()
    assert any(run["state_type"] == "COMPLETED" for run in flow_runs)


def test_serve_without_a_server_explains_what_to_do(tmp_path):
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text(f"jobs:\n  - {{name: n, inbox: {tmp_path}, store: s.duckdb, cron: '0 2 * * *'}}\n")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    result = subprocess.run([str(BIN / "churnlens"), "serve", str(schedule)], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "schedules do not fire in Prefect's embedded mode" in message and "prefect server start" in message
