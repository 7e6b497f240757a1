"""Which function runs where on one machine, and the Knative Service name each stands for."""

import os
from dataclasses import dataclass

from shared.runtime import serve

# Where `orders dev` listens: loopback only, unless ORDERS_LISTEN_HOST names another address
# (0.0.0.0 for every interface). `HOST` alone no longer moves it: some shells export one.
LISTEN_HOST_VARIABLE = "ORDERS_LISTEN_HOST"
WILDCARDS = ("0.0.0.0", "::")  # nosec B104: names, not a bind


def listen_host() -> str:
    return os.environ.get(LISTEN_HOST_VARIABLE) or "127.0.0.1"


def connect_host() -> str:
    """The address a local client reaches the functions at."""
    host = listen_host()
    return "127.0.0.1" if host in WILDCARDS else host


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class FunctionProcess:
    target: str
    port_variable: str
    default_port: int

    @property
    def port(self) -> int:
        return int(os.environ.get(self.port_variable, self.default_port))

    @property
    def service_name(self) -> str:
        """The Knative Service that runs this function on a cluster."""
        return self.target.replace("_", "-")

    @property
    def url(self) -> str:
        return f"http://{_url_host(connect_host())}:{self.port}/"

    @property
    def bound(self) -> str:
        """The address this function listens on, as `host:port`."""
        return f"{_url_host(listen_host())}:{self.port}"


# orders_http on 8080 (ORDERS_HTTP_PORT), confirm on 8081 (CONFIRM_PORT), and so on.
FUNCTIONS = tuple(
    FunctionProcess(target, f"{target.upper()}_PORT", 8080 + n)
    for n, target in enumerate(serve.FUNCTIONS)
)


def sink_urls() -> dict[str, str]:
    """Knative Service name -> local URL, for resolving a source's `sink.ref`."""
    return {function.service_name: function.url for function in FUNCTIONS}
