// The Artillery processor of the load gates (scripts/load-gates): one virtual user is one client
// session of tests/load/mix.json. It claims a session number, sends every request with its own
// client address in X-Forwarded-For (the gateway trusts 127.0.0.1), logs in as load<session>,
// runs the mix's setup once, then picks requests by weight at a fixed pace until its group's
// end. Artillery's HTTP engine sends everything; this file only decides what to send and
// records each answer under the request's name as custom metrics (spine.*), which gates.js reads
// from Artillery's JSON report.
//
// The plan (SPINE_LOAD_PLAN, a JSON file written by run.js) says when each group of sessions
// arrives, at what rate each session sends and until when:
//   {t0, sessionBase, sessionsDir, password, groups: [{name, arriveFromSec, arriveToSec,
//    sessions, rpm, untilSec, sharedIp?}]}
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const plan = JSON.parse(fs.readFileSync(process.env.SPINE_LOAD_PLAN, 'utf8'));
const mix = JSON.parse(fs.readFileSync(path.join(__dirname, 'mix.json'), 'utf8'));
// Phases start as soon as the worker has loaded this file; group arrival times count from here.
const workerStart = Date.now();
let counter = 0;

// A session number no other virtual user has, whichever Artillery worker runs it: the first
// file sessionsDir/<n> this process manages to create.
function claimSession() {
  for (let s = plan.sessionBase + 1; ; s++) {
    try {
      fs.closeSync(fs.openSync(path.join(plan.sessionsDir, String(s)), 'wx'));
      return s;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
  }
}

// 10.a.b.c from the session number: every session is its own client for the rate limiter.
function sessionIp(s) {
  return `10.${(s >> 16) & 255}.${(s >> 8) & 255}.${s & 255}`;
}

// The group whose arrival window is nearest to now (windows are seconds apart by construction).
function groupNow() {
  const t = (Date.now() - workerStart) / 1000;
  let best = plan.groups[0];
  let bestDistance = Infinity;
  for (const g of plan.groups) {
    const d = t < g.arriveFromSec ? g.arriveFromSec - t : Math.max(0, t - g.arriveToSec);
    if (d < bestDistance) {
      best = g;
      bestDistance = d;
    }
  }
  return best;
}

// Replaces ${session}, ${n} and captured ${name}s in every string of `value`; {{...}} is the
// pipeline's own template syntax and stays as it is, as does an unknown ${...}.
function substitute(value, vars) {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z0-9_]+)\}/g, (whole, name) =>
      Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : whole);
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, vars));
  if (value && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = substitute(v, vars);
    return out;
  }
  return value;
}

const totalWeight = mix.requests.reduce((sum, r) => sum + r.weight, 0);
function pickWeighted() {
  let x = Math.random() * totalWeight;
  for (const r of mix.requests) {
    x -= r.weight;
    if (x < 0) return r;
  }
  return mix.requests[mix.requests.length - 1];
}

function startSession(context, events, done) {
  const group = groupNow();
  const session = claimSession();
  const intervalMs = 60000 / group.rpm;
  const now = Date.now();
  context.vars.spine = {
    session,
    group,
    ip: group.sharedIp || sessionIp(session),
    intervalMs,
    // A random phase, so sessions arriving together do not send in lockstep.
    nextDueMs: now + Math.random() * intervalMs,
    untilMs: workerStart + group.untilSec * 1000,
    queue: [{name: 'login', method: 'POST', path: mix.login.path, login: true, expect: [200]},
            ...mix.setup],
    captured: {session},
    token: '',
    sent: [],
    current: null,
  };
  done();
}

// Waits until the session's next request is due (a fixed pace: a slow answer does not lower the
// rate, and a late request does not make the next ones bunch up), then chooses it.
function pace(context, events, done) {
  const st = context.vars.spine;
  const wait = Math.max(0, st.nextDueMs - Date.now());
  setTimeout(() => {
    const now = Date.now();
    st.current = null;
    if (now < st.untilMs) {
      st.current = st.queue.length > 0 ? st.queue.shift() : pickWeighted();
      st.nextDueMs = Math.max(st.nextDueMs + st.intervalMs, now);
    }
    done();
  }, wait);
}

function hasRequest(vars) {
  return vars.spine.current !== null;
}

function goOn(context, done) {
  const st = context.vars.spine;
  done(st.current !== null && Date.now() < st.untilMs);
}

function prepare(params, context, events, done) {
  const st = context.vars.spine;
  const item = st.current;
  const vars = Object.assign({}, st.captured, {n: `${st.session}${String(++counter).padStart(6, '0')}`});
  params.method = item.method;
  params.url = substitute(item.path, vars);
  params.headers = Object.assign({}, params.headers, {'x-forwarded-for': st.ip});
  let body = item.body;
  if (item.login) {
    body = {username: substitute(mix.login.usernameTemplate, vars), password: plan.password};
  } else if (st.token) {
    params.headers.authorization = `Bearer ${st.token}`;
  }
  delete params.json;
  delete params.body;
  if (body !== undefined) {
    // A Buffer: Artillery would otherwise render {{...}} in a string or object body itself.
    params.body = Buffer.from(JSON.stringify(substitute(body, vars)));
    params.headers['content-type'] = 'application/json';
  }
  const now = Date.now();
  st.sent.push(now);
  // When the session's rate-limited requests went out: gates.js times Gate 2's window by these.
  if (params.url.startsWith('/api/')) {
    events.emit('histogram', `spine.sent_s.${st.group.name}`, (now - plan.t0) / 1000);
  }
  done();
}

function reasonOf(body) {
  try {
    return JSON.parse(body).error.details[0].reason || '';
  } catch {
    return '';
  }
}

function record(params, res, context, events, done) {
  const st = context.vars.spine;
  const item = st.current;
  const code = res.statusCode;
  const g = st.group.name;
  const body = typeof res.body === 'string' ? res.body : String(res.body || '');
  const ms = res.timings && res.timings.phases && res.timings.phases.total !== undefined
    ? res.timings.phases.total : 0;
  events.emit('counter', `spine.status.${item.name}.${code}`, 1);
  events.emit('counter', `spine.group.${g}.${code}`, 1);
  events.emit('histogram', `spine.ms.${item.name}`, ms);
  events.emit('histogram', 'spine.ms', ms);

  // The per-IP limit answers for every /api route (API.md "Rate limits"); /status is exempt.
  if (params.url.includes('/api/')) {
    const h = res.headers;
    if (!h['ratelimit'] || !h['ratelimit-policy']) events.emit('counter', `spine.rl_headers_missing.${g}`, 1);
    if (code === 429 && reasonOf(body) === 'RATE_LIMITED') {
      events.emit('counter', `spine.rl_limited.${g}`, 1);
      if (!/^[1-9][0-9]*$/.test(h['retry-after'] || '')) events.emit('counter', `spine.rl_retry_after_missing.${g}`, 1);
    } else {
      events.emit('counter', `spine.rl_admitted.${g}`, 1);
    }
  }
  // An event stream is read to its end, and its end is the done event.
  if (item.sse && code === 200 && !/^event: done$/m.test(body)) {
    events.emit('counter', `spine.sse_incomplete.${item.name}`, 1);
  }

  if (item.expect.includes(code)) {
    if (item.login || item.capture) {
      let parsed = null;
      try {
        parsed = JSON.parse(body);
      } catch {
        events.emit('counter', `spine.bad_json.${item.name}`, 1);
      }
      if (parsed && item.login) st.token = parsed.accessToken || '';
      if (parsed && item.capture) {
        for (const [name, field] of Object.entries(item.capture)) {
          if (parsed[field] !== undefined) st.captured[name] = parsed[field];
        }
      }
    }
  }
  done();
}

// The session's busiest minute: the most requests it started within any 60 s.
function endSession(context, events, done) {
  const sent = context.vars.spine.sent;
  let most = 0;
  for (let i = 0, j = 0; i < sent.length; i++) {
    while (sent[i] - sent[j] >= 60000) j++;
    most = Math.max(most, i - j + 1);
  }
  events.emit('histogram', 'spine.session_max_per_min', most);
  done();
}

module.exports = {startSession, pace, hasRequest, goOn, prepare, record, endSession, substitute};
