// The rules of the load gates (issue 18), as pure functions of an Artillery JSON report, so that
// gates.test.js can show each rule failing on a crafted report. processor.js records what they
// read as custom metrics:
//   counters  spine.status.<request>.<code>, spine.group.<group>.<code>,
//             spine.rl_admitted.<group>, spine.rl_limited.<group> (429 RATE_LIMITED),
//             spine.rl_headers_missing.<group>, spine.rl_retry_after_missing.<group>,
//             spine.sse_incomplete.<request>, spine.bad_json.<request>;
//             Artillery's own errors.<code> (transport errors) and vusers.failed
//   summaries spine.ms (every answer, ms to its last byte), spine.ms.<request>,
//             spine.sent_s.<group> (send times, s; min and max are exact),
//             spine.session_max_per_min (the busiest minute of each session)
'use strict';

// Limits of the plan.
const GATE1 = {maxShare429: 0.02, p50Ms: 250, p95Ms: 600, sessionMaxPerMin: 99};
// Gate 2: the admitted count may differ from the token bucket's exact allowance by this much
// (a token of rounding at each end of the window, whose ends are timed at the client).
const GATE2_SLACK = 2;

function digest(report) {
  const agg = report.aggregate || {};
  const counters = agg.counters || {};
  const summaries = agg.summaries || {};
  const d = {
    byName: {}, groups: {}, rl: {}, errors: {}, sseIncomplete: {}, badJson: {},
    vusersFailed: counters['vusers.failed'] || 0,
    vusersCreated: counters['vusers.created'] || 0,
    all: summaries['spine.ms'] || null,
    sessionMaxPerMin: summaries['spine.session_max_per_min']
      ? summaries['spine.session_max_per_min'].max : null,
    sent: {},
  };
  const entry = (name) => (d.byName[name] ||= {count: 0, statuses: {}, ms: null});
  const rl = (g) => (d.rl[g] ||= {admitted: 0, limited: 0, headersMissing: 0, retryAfterMissing: 0});
  for (const [key, n] of Object.entries(counters)) {
    let m;
    if ((m = /^spine\.status\.(.+)\.(\d{3})$/.exec(key))) {
      const e = entry(m[1]);
      e.count += n;
      e.statuses[m[2]] = (e.statuses[m[2]] || 0) + n;
    } else if ((m = /^spine\.group\.(.+)\.(\d{3})$/.exec(key))) {
      (d.groups[m[1]] ||= {})[m[2]] = n;
    } else if ((m = /^spine\.rl_(admitted|limited)\.(.+)$/.exec(key))) {
      rl(m[2])[m[1]] = n;
    } else if ((m = /^spine\.rl_headers_missing\.(.+)$/.exec(key))) {
      rl(m[1]).headersMissing = n;
    } else if ((m = /^spine\.rl_retry_after_missing\.(.+)$/.exec(key))) {
      rl(m[1]).retryAfterMissing = n;
    } else if ((m = /^spine\.sse_incomplete\.(.+)$/.exec(key))) {
      d.sseIncomplete[m[1]] = n;
    } else if ((m = /^spine\.bad_json\.(.+)$/.exec(key))) {
      d.badJson[m[1]] = n;
    } else if ((m = /^errors\.(.+)$/.exec(key))) {
      d.errors[m[1]] = n;
    }
  }
  for (const [key, s] of Object.entries(summaries)) {
    let m;
    if ((m = /^spine\.ms\.(.+)$/.exec(key))) entry(m[1]).ms = s;
    else if ((m = /^spine\.sent_s\.(.+)$/.exec(key))) d.sent[m[1]] = {first: s.min, last: s.max};
  }
  return d;
}

// Every request name of the mix with the statuses it may answer.
function expectations(mix) {
  const e = {login: [200]};
  for (const r of [...mix.setup, ...mix.requests]) e[r.name] = r.expect;
  return e;
}

function totals(d) {
  const t = {answers: 0, s5xx: 0, s429: 0, other4xx: 0};
  for (const e of Object.values(d.byName)) {
    for (const [code, n] of Object.entries(e.statuses)) {
      t.answers += n;
      if (code >= '500') t.s5xx += n;
      else if (code === '429') t.s429 += n;
      else if (code >= '400') t.other4xx += n;
    }
  }
  return t;
}

function fmtStatuses(statuses) {
  return Object.entries(statuses).map(([c, n]) => `${c}:${n}`).join(' ');
}

// The rules both gates share: the run happened, nothing broke, every answer was one the mix
// expects (429 aside, which each gate bounds itself), and every service is alive at the end.
function commonFailures(d, mix, alive) {
  const failures = [];
  const t = totals(d);
  if (t.answers === 0) failures.push('no answers recorded');
  if (t.s5xx > 0) failures.push(`${t.s5xx} answers 5xx`);
  const transport = Object.entries(d.errors);
  if (transport.length > 0) {
    failures.push(`transport errors: ${transport.map(([c, n]) => `${c} x${n}`).join(', ')}`);
  }
  if (d.vusersFailed > 0) failures.push(`${d.vusersFailed} sessions failed`);
  const expect = expectations(mix);
  for (const [name, e] of Object.entries(d.byName)) {
    if (!expect[name]) {
      failures.push(`answers for '${name}', which is not in the mix`);
      continue;
    }
    const bad = Object.entries(e.statuses)
      .filter(([code]) => code !== '429' && !expect[name].includes(Number(code)));
    if (bad.length > 0) {
      failures.push(`${name}: unexpected ${fmtStatuses(Object.fromEntries(bad))} (expects ${expect[name].join('/')})`);
    }
  }
  for (const [name, n] of Object.entries(d.sseIncomplete)) {
    if (n > 0) failures.push(`${name}: ${n} event streams ended without 'event: done'`);
  }
  for (const [name, n] of Object.entries(d.badJson)) {
    if (n > 0) failures.push(`${name}: ${n} answers were not JSON`);
  }
  if (!alive || Object.keys(alive.services || {}).length === 0) {
    failures.push('no service liveness recorded');
  } else {
    const dead = Object.entries(alive.services).filter(([, up]) => !up).map(([s]) => s);
    if (dead.length > 0) failures.push(`dead at the end: ${dead.join(', ')}`);
    if (alive.readyz !== 200) failures.push(`/readyz answered ${alive.readyz} at the end`);
  }
  if (d.sessionMaxPerMin === null) failures.push('no session rate recorded');
  else if (d.sessionMaxPerMin > GATE1.sessionMaxPerMin) {
    failures.push(`a session sent ${d.sessionMaxPerMin} requests in one minute (limit 100/min)`);
  }
  return {failures, t};
}

function checkGate1(d, {mix, alive}) {
  const {failures, t} = commonFailures(d, mix, alive);
  const share429 = t.answers > 0 ? t.s429 / t.answers : 0;
  if (share429 > GATE1.maxShare429) {
    failures.push(`429 share ${(100 * share429).toFixed(2)} % > ${100 * GATE1.maxShare429} %`);
  }
  if (t.other4xx > 0) failures.push(`${t.other4xx} answers 4xx other than 429`);
  const p50 = d.all ? d.all.p50 : null;
  const p95 = d.all ? d.all.p95 : null;
  if (p50 === null) failures.push('no latency recorded');
  else {
    if (p50 > GATE1.p50Ms) failures.push(`p50 ${p50} ms > ${GATE1.p50Ms} ms`);
    if (p95 > GATE1.p95Ms) failures.push(`p95 ${p95} ms > ${GATE1.p95Ms} ms`);
  }
  return {
    name: 'Gate 1', pass: failures.length === 0, failures,
    figures: {answers: t.answers, '5xx': t.s5xx, '429s': t.s429,
              '429 %': (100 * share429).toFixed(2), 'other 4xx': t.other4xx,
              'p50 ms': p50, 'p95 ms': p95, 'p99 ms': d.all ? d.all.p99 : null,
              'session max/min': d.sessionMaxPerMin},
  };
}

// The token bucket (services/gateway/rate_limit/rate_limiter.cc) starts full with `perMinute`
// tokens and refills continuously at perMinute/60 per second, capped at perMinute. A client that
// keeps asking faster than that never lets it fill again, so over the span T (s) from its first
// to its last request it is admitted exactly floor(perMinute + perMinute * T / 60), give or take
// GATE2_SLACK: burst plus refill, nothing more, nothing less.
function checkGate2(d, {mix, alive, hot, others, perMinute}) {
  const {failures} = commonFailures(d, mix, alive);
  const h = d.rl[hot] || {admitted: 0, limited: 0, headersMissing: 0, retryAfterMissing: 0};
  const o = d.rl[others] || {admitted: 0, limited: 0, headersMissing: 0, retryAfterMissing: 0};
  const span = d.sent[hot] ? d.sent[hot].last - d.sent[hot].first : 0;
  const expected = Math.floor(perMinute + (perMinute * span) / 60);
  const offered = h.admitted + h.limited;
  const offeredPerMin = span > 0 ? (60 * offered) / span : 0;
  if (offered === 0 || span <= 0) failures.push(`no requests from the ${hot} client`);
  else {
    // Below 1.5x the limit the bucket could refill between requests and the count says little.
    if (offeredPerMin < 1.5 * perMinute) {
      failures.push(`the ${hot} client offered only ${offeredPerMin.toFixed(0)} req/min`);
    }
    if (Math.abs(h.admitted - expected) > GATE2_SLACK) {
      failures.push(`${hot} client: ${h.admitted} admitted in ${span.toFixed(1)} s, the bucket allows ${expected} ± ${GATE2_SLACK}`);
    }
    if (h.limited === 0) failures.push(`${hot} client: never limited`);
  }
  if (h.retryAfterMissing > 0) failures.push(`${hot} client: ${h.retryAfterMissing} 429s without a valid Retry-After`);
  for (const [g, r] of [[hot, h], [others, o]]) {
    if (r.headersMissing > 0) failures.push(`${g}: ${r.headersMissing} answers without RateLimit/RateLimit-Policy`);
  }
  const otherStatuses = d.groups[others] || {};
  const other429 = otherStatuses['429'] || 0;
  if (Object.keys(otherStatuses).length === 0) failures.push(`no answers for the ${others} clients`);
  if (other429 > 0 || o.limited > 0) failures.push(`${others}: ${other429} answers 429 (expected none)`);
  return {
    name: 'Gate 2', pass: failures.length === 0, failures,
    // All the hot client's requests, /status (exempt from the limit) included, and those counted.
    figures: {[`${hot} req/min`]: span > 0 ? ((60 * sum(d.groups[hot])) / span).toFixed(0) : 0,
              [`${hot} limited-route req`]: offered, [`of those /min`]: offeredPerMin.toFixed(0),
              'span s': span.toFixed(1), admitted: h.admitted, 'bucket allows': expected,
              limited: h.limited, [`${others} answers`]: fmtStatuses(otherStatuses)},
  };
}

function sum(counts) {
  return Object.values(counts || {}).reduce((a, b) => a + b, 0);
}

function pad(s, n) {
  s = String(s);
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function formatTable(d) {
  const rows = [['request', 'count', 'statuses', 'p50 ms', 'p95 ms', 'p99 ms']];
  const ms = (s, k) => (s ? String(s[k]) : '-');
  for (const name of Object.keys(d.byName).sort()) {
    const e = d.byName[name];
    rows.push([name, e.count, fmtStatuses(e.statuses), ms(e.ms, 'p50'), ms(e.ms, 'p95'), ms(e.ms, 'p99')]);
  }
  const t = totals(d);
  rows.push(['(all)', t.answers, '', ms(d.all, 'p50'), ms(d.all, 'p95'), ms(d.all, 'p99')]);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  const lines = rows.map((r) => r.map((c, i) => pad(c, widths[i])).join('  ').trimEnd());
  if (Object.keys(d.errors).length > 0) lines.push(`transport errors: ${fmtStatuses(d.errors)}`);
  return lines.join('\n');
}

function formatVerdict(v) {
  const figures = Object.entries(v.figures).map(([k, x]) => `${k} ${x}`).join(', ');
  const head = `${v.name}: ${v.pass ? 'PASS' : 'FAIL'}${figures ? ` (${figures})` : ''}`;
  return [head, ...v.failures.map((f) => `  - ${f}`)].join('\n');
}

module.exports = {digest, checkGate1, checkGate2, formatTable, formatVerdict, GATE1, GATE2_SLACK};
