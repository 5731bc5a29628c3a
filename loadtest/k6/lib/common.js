// Shared by every scenario: the target, the load shape and the keys, all
// from environment variables (k6 run -e NAME=value, or the compose profile).
//
//   TARGET    base URL (default http://lb:8000 inside the compose network)
//   RATE      requests per second: open loop (constant-arrival-rate); unset: closed loop
//   VUS       closed loop: virtual users; open loop: the most in flight (default 8 / 256)
//   DURATION  how long (default 30s)
//   IDS       id range LO-HI for {id} (default 1-10000, the seeded users)
//   ZIPF      Zipf exponent s for the ids (low ids hot); unset or 0: uniform
//
// The same scenarios exist in loadgen (go run ./loadtest/cmd/loadgen
// -scenario NAME); a test checks that each has both forms.

export const target = (__ENV.TARGET || 'http://lb:8000').replace(/\/$/, '');

export function options() {
  const duration = __ENV.DURATION || '30s';
  const rate = parseInt(__ENV.RATE || '0', 10);
  const scenario = rate > 0
    ? { executor: 'constant-arrival-rate', rate, timeUnit: '1s', duration,
        preAllocatedVUs: Math.min(rate, 64), maxVUs: parseInt(__ENV.VUS || '256', 10) }
    : { executor: 'constant-vus', vus: parseInt(__ENV.VUS || '8', 10), duration };
  return {
    scenarios: { load: scenario },
    // The thresholds the CI workflow checks: almost no failures, and a p99
    // that a lab on one machine keeps.
    thresholds: {
      http_req_failed: ['rate<0.01'],
      http_req_duration: ['p(99)<1000'],
    },
  };
}

// keys returns a function drawing ids from IDS (or the default range),
// uniformly or from Zipf(s) by inverse CDF, as loadgen does.
export function keys(defaultRange) {
  const [lo, hi] = (__ENV.IDS || defaultRange).split('-').map((x) => parseInt(x, 10));
  const n = hi - lo + 1;
  const s = parseFloat(__ENV.ZIPF || '0');
  if (!(s > 0)) {
    return () => lo + Math.floor(Math.random() * n);
  }
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum += Math.pow(i + 1, -s);
    cdf[i] = sum;
  }
  return () => {
    const u = Math.random() * sum;
    let a = 0;
    let b = n - 1;
    while (a < b) {
      const m = (a + b) >> 1;
      if (cdf[m] < u) a = m + 1; else b = m;
    }
    return lo + a;
  };
}

export function userBody(id) {
  return JSON.stringify({ name: `user ${id}`, email: `user${id}@example.com` });
}

export const jsonParams = { headers: { 'Content-Type': 'application/json' }, tags: { step: 'write' } };
