// The whole lifecycle at a constant arrival rate: RATE creates per second for DURATION, then a
// check that every order created reached SHIPPED (run with zero delays, e.g. on
// `CONFIRM_DELAY_SECONDS=0 SHIP_DELAY_SECONDS=0 make dev`):
//   k6 run -e BASE_URL=http://127.0.0.1:8080 -e RATE=250 -e DURATION=60 tests/load/lifecycle.js
// Every order of a run carries the run's own customer id, so the check lists exactly them.
// Thresholds: create latency (p95, p99), no failed or dropped create, and the final check.
import http from "k6/http";
import { check, sleep } from "k6";
import exec from "k6/execution";
import { Counter } from "k6/metrics";

const BASE = (__ENV.BASE_URL || "http://127.0.0.1:8080").replace(/\/$/, "");
const RATE = Number(__ENV.RATE || 250);
const DURATION = Number(__ENV.DURATION || 60);
const SETTLE = Number(__ENV.SETTLE || 120);

const createFailures = new Counter("create_failures");
const notShipped = new Counter("orders_not_shipped");
const shipped = new Counter("orders_shipped");

export const options = {
  scenarios: {
    create: {
      executor: "constant-arrival-rate",
      rate: RATE,
      timeUnit: "1s",
      duration: `${DURATION}s`,
      preAllocatedVUs: Math.max(20, Math.ceil(RATE / 2)),
      maxVUs: Math.max(100, RATE * 4),
      exec: "create",
    },
    verify: {
      executor: "per-vu-iterations",
      vus: 1,
      iterations: 1,
      startTime: `${DURATION + 1}s`,
      maxDuration: `${SETTLE + 30}s`,
      exec: "verify",
    },
  },
  thresholds: {
    "http_req_duration{name:create}": [
      `p(95)<${__ENV.CREATE_P95_MS || 25}`,
      `p(99)<${__ENV.CREATE_P99_MS || 50}`,
    ],
    create_failures: ["count==0"],
    dropped_iterations: ["count==0"],
    orders_not_shipped: ["count==0"],
    "checks{scenario:verify}": ["rate==1"],
  },
  summaryTrendStats: ["avg", "min", "med", "p(90)", "p(95)", "p(99)", "max"],
};

// Each VU runs the init code apart: the run's id comes from setup, which runs once.
export function setup() {
  return { run: __ENV.RUN_ID || `lifecycle-${Date.now()}` };
}

export function create(data) {
  const body = JSON.stringify({
    customer_id: data.run,
    // The iteration's number in the sku lets the check find a missing order among the rest.
    items: [{ sku: `LIFE-${exec.scenario.iterationInTest}`, quantity: 1, unit_price_cents: 100 }],
  });
  const res = http.post(`${BASE}/`, body, {
    headers: { "Content-Type": "application/json" },
    tags: { name: "create" },
  });
  if (res.status !== 201) createFailures.add(1);
}

function statuses(run) {
  const seen = {};
  let cursor = null;
  do {
    const query = `customer_id=${run}&limit=100` + (cursor ? `&cursor=${cursor}` : "");
    const res = http.get(`${BASE}/?${query}`, { tags: { name: "verify" } });
    if (res.status !== 200) return null;
    for (const order of res.json("items")) seen[order.items[0].sku] = order.status;
    cursor = res.json("next_cursor");
  } while (cursor);
  return seen;
}

export function verify(data) {
  // Every number from 0 to the highest seen must be there once, each order SHIPPED. k6 may
  // start a few iterations fewer than RATE x DURATION as the window closes (none is dropped:
  // see the thresholds), hence the 1% allowance on the count.
  const expected = Math.floor(RATE * DURATION * 0.99);
  const deadline = Date.now() + SETTLE * 1000;
  let seen = statuses(data.run);
  let late = seen ? Object.values(seen).filter((s) => s !== "SHIPPED").length : expected;
  while ((seen === null || late > 0) && Date.now() < deadline) {
    sleep(1);
    seen = statuses(data.run);
    late = seen ? Object.values(seen).filter((s) => s !== "SHIPPED").length : expected;
  }
  const numbers = seen ? Object.keys(seen).map((sku) => Number(sku.slice(5))) : [];
  const count = numbers.length;
  const highest = count ? Math.max(...numbers) : -1;
  shipped.add(count - late);
  notShipped.add(late);
  check(count, {
    "every order created is listed once": (n) => n === highest + 1 && n >= expected,
    "every order reached SHIPPED": () => late === 0,
  });
}
