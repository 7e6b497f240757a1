"""The harness itself: a test that starts servers must never talk to the wrong one."""

import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest

from tests.support import free_port, wait_until_answering


def test_free_port_never_hands_out_a_port_twice() -> None:
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(port < 32768 for port in ports)


def test_waiting_fails_when_the_server_meant_to_answer_has_ended() -> None:
    # Another server answers on the port, as when two got the same one: that is no answer.
    port = free_port()
    other = ThreadingHTTPServer(("127.0.0.1", port), BaseHTTPRequestHandler)
    Thread(target=other.serve_forever, daemon=True).start()
    ended = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    ended.wait()
    try:
        with pytest.raises(RuntimeError, match=r"ended \(3\)"):
            wait_until_answering(f"http://127.0.0.1:{port}/healthz", process=ended)
        wait_until_answering(f"http://127.0.0.1:{port}/healthz")  # without it: answered
    finally:
        other.shutdown()
        other.server_close()
