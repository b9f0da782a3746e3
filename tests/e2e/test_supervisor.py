"""`cri up` as a supervisor: a stop signal stops every process it started, a service that exits is restarted, a
second `cri up` on the same folder is refused, and what a killed run left is stopped before the next start."""

import os
import signal
import socket
import subprocess
import time
from contextlib import suppress
from pathlib import Path

import httpx
import pytest

from system.stack.ports import process_stat
from system.stack.postgres import EmbeddedPostgres
from tests.support import CriUp, still_running

pytestmark = pytest.mark.e2e


def service_pid(home: Path, name: str) -> int:
    return int((home / "run" / f"{name}.pid").read_text().split()[0])


def wait_ready(url: str, up: CriUp, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        with suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health/ready", timeout=5).status_code == 200:
                return
        assert time.monotonic() < deadline, f"{url} not ready again:\n{up.output}"
        time.sleep(0.5)


def test_a_killed_service_is_restarted_and_sigterm_or_sighup_leave_no_process(tmp_path: Path):
    for sig in (signal.SIGTERM, signal.SIGHUP):  # the second start is the next start on the same folder
        with CriUp(tmp_path) as up:
            took = up.wait_up()
            routing = service_pid(tmp_path, "routing")
            if sig is signal.SIGTERM:
                subprocess.run(["kill", "-9", str(routing)], check=True)
                up.wait_for("routing restarted")
                assert "routing exited (killed by SIGKILL); restarting it in" in up.output
                assert service_pid(tmp_path, "routing") != routing
                wait_ready(f"http://127.0.0.1:{up.env['CRI_ROUTING_PORT']}", up)
                second = subprocess.run(up.process.args, env=up.env, capture_output=True, text=True, timeout=60)
                assert second.returncode == 1
                assert f"CRI Exchange is already running from {tmp_path} (cri up, pid {up.process.pid})" in (
                    second.stdout + second.stderr
                )
            pids = up.pids()
            assert len(pids) >= 8, up.output  # cri up, PostgreSQL and its workers, broker, mail sink, 4 services
            stopped_in = up.stop(sig)
            assert up.process.returncode == 0, up.output
            assert still_running(pids) == set(), up.output
            assert f"{sig.name} received: stopping" in up.output
            assert list((tmp_path / "run").glob("*.pid")) == []
            print(f"{sig.name}: up in {took:.1f}s, {len(pids)} processes stopped in {stopped_in:.1f}s")


def test_what_a_killed_run_left_is_stopped_and_a_crashed_folder_starts_again(tmp_path: Path):
    first = CriUp(tmp_path).start()
    first.wait_up()
    left = {pid: started for pid, started in first.pids().items() if pid != first.process.pid}
    first.process.kill()  # the supervisor alone: its children, in sessions of their own, keep running
    first.process.wait(30)
    try:
        assert still_running(left) == set(left)
        with CriUp(tmp_path) as second:
            took = second.wait_up()
            assert "an earlier cri up on" in second.output and "did not stop cleanly" in second.output
            for name in ("intake", "routing", "engagements", "notify", "smtp-sink", "broker", "postgres"):
                assert f"{name} (pid " in second.output
            assert still_running(left) == set()
            print(f"taking over from a killed supervisor: up in {took:.1f}s")
            second.kill_everything()  # stale postmaster.pid, Kafka stopped uncleanly, pid files of dead processes
    finally:
        for pid in still_running(left):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    with CriUp(tmp_path) as third:
        took = third.wait_up()
        pids = third.pids()
        third.stop(signal.SIGINT)
        assert third.process.returncode == 0 and still_running(pids) == set(), third.output
        print(f"after a SIGKILL of everything: up in {took:.1f}s")


def test_a_postgresql_left_on_the_data_folder_is_stopped_before_a_new_one_starts(tmp_path: Path):
    """Without this, the new server fails with "pre-existing shared memory block is still in use"."""
    leftover = EmbeddedPostgres(tmp_path / "postgres").start()
    server = EmbeddedPostgres(tmp_path / "postgres").start()
    try:
        assert leftover.pid is not None and process_stat(leftover.pid) is None
        server.create_database("after_takeover")
    finally:
        server.stop()
        leftover.kill()


def test_a_port_in_use_stops_the_start_before_anything_runs_naming_the_variable(tmp_path: Path):
    up = CriUp(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(up.env["CRI_KAFKA_PORT"])))
        taken.listen()
        with up:
            assert up.process.wait(60) == 1
    assert "CRI Exchange could not start: port" in up.output
    assert "(kafka) is already in use" in up.output and "CRI_KAFKA_PORT=<port> cri up" in up.output
    assert not (tmp_path / "postgres").exists()
