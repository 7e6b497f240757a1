"""Which function runs where on one machine, and the Knative Service name each stands for."""

import os
from dataclasses import dataclass

from shared import serve


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


# orders_http on 8080 (ORDERS_HTTP_PORT), confirm on 8081 (CONFIRM_PORT), and so on.
FUNCTIONS = tuple(
    FunctionProcess(target, f"{target.upper()}_PORT", 8080 + n)
    for n, target in enumerate(serve.FUNCTIONS)
)


def sink_urls() -> dict[str, str]:
    """Knative Service name -> local URL, for resolving a source's `sink.ref`."""
    return {function.service_name: function.url for function in FUNCTIONS}
