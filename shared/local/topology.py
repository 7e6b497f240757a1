"""Which function runs where on one machine, and the Knative Service name each stands for."""

import os
from dataclasses import dataclass


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
        return f"http://127.0.0.1:{self.port}/"


FUNCTIONS = (
    FunctionProcess("orders_http", "ORDERS_HTTP_PORT", 8080),
    FunctionProcess("confirm", "CONFIRM_PORT", 8081),
    FunctionProcess("ship", "SHIP_PORT", 8082),
    FunctionProcess("outbox_relay", "OUTBOX_RELAY_PORT", 8083),
)


def sink_urls() -> dict[str, str]:
    """Knative Service name -> local URL, for resolving a source's `sink.ref`."""
    return {function.service_name: function.url for function in FUNCTIONS}
