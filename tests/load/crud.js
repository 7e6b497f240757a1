// CRUD mix against orders_http: a closed model of VUS clients for DURATION.
//   k6 run -e BASE_URL=http://127.0.0.1:8080 tests/load/crud.js
// MIX chooses the operations: "mix" (default: 40% create, 40% read, 10% list, 5% replace,
// 5% delete), "create" (POST / only) or "read" (GET /{id} of one order only).
// Any answer other than the contract's success codes counts as a failure; the thresholds
// (latency and error rate) make k6 exit non-zero when they are broken.
import http from "k6/http";
import { check, fail } from "k6";

const BASE = (__ENV.BASE_URL || "http://127.0.0.1:8080").replace(/\/$/, "");
const MIX = __ENV.MIX || "mix";
const JSON_HEADERS = { headers: { "Content-Type": "application/json" } };

export const options = {
  scenarios: {
    crud: {
      executor: "constant-vus",
      vus: Number(__ENV.VUS || 32),
      duration: __ENV.DURATION || "30s",
    },
  },
  thresholds: {
    http_req_failed: ["rate<0.001"],
    // 32 clients without think time keep one instance saturated: these bounds are for that.
    http_req_duration: [`p(95)<${__ENV.P95_MS || 100}`, `p(99)<${__ENV.P99_MS || 250}`],
    checks: ["rate>0.999"],
  },
  summaryTrendStats: ["avg", "min", "med", "p(90)", "p(95)", "p(99)", "max"],
};

function body(n) {
  return JSON.stringify({
    customer_id: `load-${__VU}`,
    items: [
      { sku: "ABC-1", quantity: 1 + (n % 5), unit_price_cents: 1299 },
      { sku: "XYZ-9", quantity: 1, unit_price_cents: 500 },
    ],
  });
}

function create(n) {
  const res = http.post(`${BASE}/`, body(n), { ...JSON_HEADERS, tags: { name: "create" } });
  check(res, { "create answers 201": (r) => r.status === 201 });
  return res.status === 201 ? res.json() : null;
}

export function setup() {
  const order = create(0);
  if (!order) fail("could not create the order the read mix reads");
  return { readId: order.id };
}

const mine = [];

function read(id) {
  const res = http.get(`${BASE}/${id}`, { tags: { name: "read" } });
  check(res, { "read answers 200": (r) => r.status === 200 });
}

function list() {
  const res = http.get(`${BASE}/?limit=20&customer_id=load-${__VU}`, { tags: { name: "list" } });
  check(res, { "list answers 200": (r) => r.status === 200 && Array.isArray(r.json("items")) });
}

function replace(order, n) {
  const params = { headers: { "Content-Type": "application/json", "If-Match": `"${order.version}"` }, tags: { name: "replace" } };
  // 409 is the contract's answer once the order has moved past CREATED.
  const res = http.put(`${BASE}/${order.id}`, body(n + 1), {
    ...params,
    responseCallback: http.expectedStatuses(200, 409),
  });
  check(res, { "replace answers 200 or 409": (r) => r.status === 200 || r.status === 409 });
  if (res.status === 200) order.version = res.json("version");
}

function remove(order) {
  const res = http.del(`${BASE}/${order.id}`, null, { tags: { name: "delete" } });
  check(res, { "delete answers 204": (r) => r.status === 204 });
}

export default function (data) {
  const n = __ITER;
  if (MIX === "create") return void create(n);
  if (MIX === "read") return void read(data.readId);
  const roll = Math.random();
  if (roll < 0.4 || mine.length === 0) {
    const order = create(n);
    if (order) mine.push(order);
  } else if (roll < 0.8) {
    read(mine[Math.floor(Math.random() * mine.length)].id);
  } else if (roll < 0.9) {
    list();
  } else if (roll < 0.95) {
    replace(mine[mine.length - 1], n);
  } else {
    remove(mine.pop());
  }
}
