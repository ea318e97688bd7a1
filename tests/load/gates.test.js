// The load gates' rules on crafted Artillery reports: a run that passes each gate, then every
// rule broken once, each failing its gate with a message naming what broke. No network, no
// Artillery: `node --test tests/load/gates.test.js` (CTest: load_gates_rules).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const gates = require('./gates');

const mix = JSON.parse(fs.readFileSync(path.join(__dirname, 'mix.json'), 'utf8'));
const alive = {services: {storage: true, llm: true, plugins: true, tasks: true, gateway: true},
               readyz: 200};

function summary(p50, p95, extra = {}) {
  return {min: 1, max: p95 * 2, count: 100, mean: p50, p50, median: p50, p75: p50, p90: p95,
          p95, p99: p95 * 1.5, ...extra};
}

// A Gate 1 run as processor.js records it: every request of the mix answered as expected.
function gate1Report() {
  const counters = {'vusers.created': 10, 'vusers.completed': 10, 'vusers.failed': 0,
                    'spine.status.login.200': 10};
  const summaries = {'spine.ms': summary(5, 70), 'spine.ms.login': summary(200, 250),
                     'spine.session_max_per_min': summary(50, 51, {max: 51})};
  for (const r of [...mix.setup, ...mix.requests]) {
    counters[`spine.status.${r.name}.${r.expect[0]}`] = 20;
    summaries[`spine.ms.${r.name}`] = summary(5, 20);
  }
  counters['spine.group.base.200'] = 200;
  return {aggregate: {counters, summaries}};
}

// A Gate 2 run: the hot client offered 250 req/min for 60 s and got 100 + 100 admitted.
function gate2Report() {
  const report = gate1Report();
  const c = report.aggregate.counters;
  const s = report.aggregate.summaries;
  c['spine.status.thoughts.create.429'] = 50;
  Object.assign(c, {'spine.rl_admitted.hot': 200, 'spine.rl_limited.hot': 50,
                    'spine.rl_admitted.others': 60, 'spine.group.hot.200': 200,
                    'spine.group.hot.429': 50, 'spine.group.others.200': 60});
  s['spine.sent_s.hot'] = summary(30, 57, {min: 2.0, max: 62.0});
  s['spine.sent_s.others'] = summary(30, 57, {min: 6.0, max: 62.0});
  return report;
}

function gate1(report, opts = {}) {
  return gates.checkGate1(gates.digest(report), {mix, alive, ...opts});
}

function gate2(report, opts = {}) {
  return gates.checkGate2(gates.digest(report),
                          {mix, alive, hot: 'hot', others: 'others', perMinute: 100, ...opts});
}

function assertFails(verdict, pattern) {
  assert.equal(verdict.pass, false, 'the gate should fail');
  assert.ok(verdict.failures.some((f) => pattern.test(f)),
            `no failure matches ${pattern}: ${JSON.stringify(verdict.failures)}`);
}

test('gate 1 passes a clean run', () => {
  const v = gate1(gate1Report());
  assert.deepEqual(v.failures, []);
  assert.equal(v.pass, true);
  assert.equal(v.figures['p95 ms'], 70);
});

test('gate 1 fails', async (t) => {
  const cases = [
    ['with no answers', (r) => { r.aggregate.counters = {}; }, /no answers/],
    ['on a 5xx', (r) => { r.aggregate.counters['spine.status.runs.wait.503'] = 1; }, /1 answers 5xx/],
    ['on a transport error', (r) => { r.aggregate.counters['errors.ECONNRESET'] = 1; }, /ECONNRESET/],
    ['on a timeout', (r) => { r.aggregate.counters['errors.ETIMEDOUT'] = 2; }, /ETIMEDOUT x2/],
    ['on a failed session', (r) => { r.aggregate.counters['vusers.failed'] = 1; }, /sessions failed/],
    ['on more than 2 % 429', (r) => { r.aggregate.counters['spine.status.status.429'] = 20; }, /429 share/],
    ['on another 4xx', (r) => { r.aggregate.counters['spine.status.thoughts.get.404'] = 1; }, /4xx other than 429/],
    ['on a status the mix does not expect', (r) => {
      r.aggregate.counters['spine.status.runs.wait.202'] = 1;
    }, /runs\.wait: unexpected 202:1/],
    ['on a request not in the mix', (r) => { r.aggregate.counters['spine.status.nope.200'] = 1; }, /not in the mix/],
    ['on an event stream cut short', (r) => {
      r.aggregate.counters['spine.sse_incomplete.llm.stream'] = 1;
    }, /without 'event: done'/],
    ['on an answer that is not JSON', (r) => { r.aggregate.counters['spine.bad_json.login'] = 1; }, /not JSON/],
    ['on p50 over 250 ms', (r) => { r.aggregate.summaries['spine.ms'] = summary(251, 400); }, /p50 251 ms/],
    ['on p95 over 600 ms', (r) => { r.aggregate.summaries['spine.ms'] = summary(20, 601); }, /p95 601 ms/],
    ['with no latency', (r) => { delete r.aggregate.summaries['spine.ms']; }, /no latency/],
    ['on a session over 100/min', (r) => {
      r.aggregate.summaries['spine.session_max_per_min'].max = 100;
    }, /100 requests in one minute/],
  ];
  for (const [name, breakIt, pattern] of cases) {
    await t.test(name, () => {
      const report = gate1Report();
      breakIt(report);
      assertFails(gate1(report), pattern);
    });
  }
  await t.test('on a dead service', () => {
    assertFails(gate1(gate1Report(), {alive: {...alive, services: {...alive.services, llm: false}}}),
                /dead at the end: llm/);
  });
  await t.test('on /readyz not 200', () => {
    assertFails(gate1(gate1Report(), {alive: {...alive, readyz: 503}}), /readyz answered 503/);
  });
  await t.test('without liveness', () => {
    assertFails(gate1(gate1Report(), {alive: {services: {}, readyz: 200}}), /no service liveness/);
  });
});

test('gate 1 allows 429s up to 2 % of the answers, not one more', () => {
  // 270 answers of the crafted run + 24 more = 294; then 6 429s are 2.00 % of 300.
  const report = gate1Report();
  report.aggregate.counters['spine.status.thoughts.list.200'] += 24;
  report.aggregate.counters['spine.status.status.429'] = 6;
  assert.deepEqual(gate1(report).failures, []);
  report.aggregate.counters['spine.status.status.429'] = 7;
  assertFails(gate1(report), /429 share 2\.33 % > 2 %/);
});

test('gate 2 passes the bucket exactly, and within its slack', () => {
  const v = gate2(gate2Report());
  assert.deepEqual(v.failures, []);
  assert.equal(v.figures['bucket allows'], 200);
  const report = gate2Report();
  report.aggregate.counters['spine.rl_admitted.hot'] = 200 + gates.GATE2_SLACK;
  assert.equal(gate2(report).pass, true);
});

test('gate 2 fails', async (t) => {
  const cases = [
    ['when the hot client is admitted too much', (r) => {
      r.aggregate.counters['spine.rl_admitted.hot'] = 200 + gates.GATE2_SLACK + 1;
    }, /203 admitted in 60\.0 s, the bucket allows 200/],
    ['when the hot client is admitted too little', (r) => {
      r.aggregate.counters['spine.rl_admitted.hot'] = 200 - gates.GATE2_SLACK - 1;
    }, /197 admitted/],
    ['when the hot client was never limited', (r) => {
      r.aggregate.counters['spine.rl_limited.hot'] = 0;
      r.aggregate.counters['spine.rl_admitted.hot'] = 200;
      r.aggregate.summaries['spine.sent_s.hot'] = summary(1, 2, {min: 0, max: 60});
    }, /never limited/],
    ['when the hot client offered too little to test the limit', (r) => {
      r.aggregate.counters['spine.rl_limited.hot'] = 0;
      r.aggregate.counters['spine.rl_admitted.hot'] = 140;
      r.aggregate.summaries['spine.sent_s.hot'] = summary(1, 2, {min: 0, max: 60});
    }, /offered only/],
    ['without requests from the hot client', (r) => {
      delete r.aggregate.counters['spine.rl_admitted.hot'];
      delete r.aggregate.counters['spine.rl_limited.hot'];
      delete r.aggregate.summaries['spine.sent_s.hot'];
    }, /no requests from the hot client/],
    ['on a 429 without Retry-After', (r) => {
      r.aggregate.counters['spine.rl_retry_after_missing.hot'] = 1;
    }, /without a valid Retry-After/],
    ['on an answer without RateLimit headers', (r) => {
      r.aggregate.counters['spine.rl_headers_missing.others'] = 1;
    }, /others: 1 answers without RateLimit/],
    ['when another client gets a 429', (r) => {
      r.aggregate.counters['spine.group.others.429'] = 1;
    }, /others: 1 answers 429/],
    ['without answers for the other clients', (r) => {
      delete r.aggregate.counters['spine.group.others.200'];
    }, /no answers for the others clients/],
    ['on a 5xx', (r) => { r.aggregate.counters['spine.status.status.500'] = 1; }, /answers 5xx/],
    ['on a transport error', (r) => { r.aggregate.counters['errors.ECONNREFUSED'] = 1; }, /ECONNREFUSED/],
    ['on another 4xx', (r) => { r.aggregate.counters['spine.status.thoughts.get.401'] = 1; }, /thoughts\.get: unexpected 401/],
  ];
  for (const [name, breakIt, pattern] of cases) {
    await t.test(name, () => {
      const report = gate2Report();
      breakIt(report);
      assertFails(gate2(report), pattern);
    });
  }
  await t.test('on a dead service', () => {
    assertFails(gate2(gate2Report(), {alive: {...alive, services: {...alive.services, gateway: false}}}),
                /dead at the end: gateway/);
  });
});

test('the table names every request with its statuses and percentiles', () => {
  const table = gates.formatTable(gates.digest(gate2Report()));
  assert.match(table, /^request\s+count\s+statuses\s+p50 ms\s+p95 ms\s+p99 ms$/m);
  assert.match(table, /^thoughts\.create\s+70\s+201:20 429:50\s+5\s+20\s+30$/m);
  assert.match(table, /^\(all\)\s+320\s+5\s+70\s+105$/m);
  const verdict = gates.formatVerdict(gate2(gate2Report()));
  assert.match(verdict, /^Gate 2: PASS \(hot req\/min 250, hot limited-route req 250, of those \/min 250, span s 60\.0, admitted 200/);
});
