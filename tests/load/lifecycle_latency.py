"""End-to-end time of single orders on a running system: POST, then poll until SHIPPED.

    CONFIRM_DELAY_SECONDS=0 SHIP_DELAY_SECONDS=0 make dev      # in another terminal
    .venv/bin/python -m tests.load.lifecycle_latency --orders 50

Prints the median and the 90th percentile of create -> SHIPPED, measured by the client
(so it includes the polling interval, 5 ms).
"""

import argparse
import statistics
import time

import httpx

BODY = {
    "customer_id": "latency",
    "items": [{"sku": "SKU-1", "quantity": 1, "unit_price_cents": 100}],
}


def one_order(client: httpx.Client) -> float:
    started = time.perf_counter()
    order_id = client.post("/", json=BODY).raise_for_status().json()["id"]
    while client.get(f"/{order_id}").json()["status"] != "SHIPPED":
        time.sleep(0.005)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--orders", type=int, default=50)
    args = parser.parse_args()
    with httpx.Client(base_url=args.url, timeout=30) as client:
        one_order(client)  # warm-up: connections, consumer groups
        times = sorted(one_order(client) for _ in range(args.orders))
    print(
        f"{args.orders} orders, create -> SHIPPED: median {statistics.median(times) * 1000:.0f} ms, "
        f"p90 {times[int(len(times) * 0.9) - 1] * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
