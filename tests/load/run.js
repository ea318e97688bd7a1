#!/usr/bin/env node
// Runs the load gates against a running stack (scripts/load-gates starts one): for each gate it
// creates the users its sessions log in as (through the admin API), writes the plan and the
// Artillery script, runs Artillery, checks that every service is still alive, and judges the
// report with gates.js. Prints a table per gate and the verdicts; exits 1 if a gate failed.
//
//   node run.js --url URL --admin-password-file FILE --run-dir DIR --out DIR [--full] [--gate 1|2]
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const {spawnSync} = require('node:child_process');
const gates = require('./gates');

function parseArgs(argv) {
  const args = {full: false, gates: ['1', '2']};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--full') args.full = true;
    else if (a === '--gate') args.gates = [argv[++i]];
    else if (['--url', '--admin-password-file', '--run-dir', '--out'].includes(a)) {
      args[a.slice(2).replace(/-./g, (m) => m[1].toUpperCase())] = argv[++i];
    } else throw new Error(`unknown argument ${a}`);
  }
  for (const k of ['url', 'adminPasswordFile', 'runDir', 'out']) {
    if (!args[k]) throw new Error(`--${k.replace(/[A-Z]/g, (m) => '-' + m.toLowerCase())} is required`);
  }
  return args;
}

// The gates' shapes. Each session sends at `rpm` (< 100, the per-IP limit); the totals are the
// plan's: 250 req/min sustained, 500 in the spike (Gate 1), one address at 250 req/min beside
// clients at a low rate (Gate 2). Arrival windows are seconds apart, so that processor.js can
// tell the groups apart by when a session arrives.
function gatePlans(full) {
  const warm = full ? 30 : 10;
  const sustained = full ? 300 : 60;
  const spike = full ? 30 : 20;
  return {
    '1': {
      title: full ? 'Gate 1 (full: 5 min at 250 req/min)' : 'Gate 1 (short)',
      sessionBase: 0,
      groups: [
        // warm-up: five sessions ramp in one by one, then hold 5 x 50 = 250 req/min
        {name: 'base', arriveFromSec: 0, arriveToSec: warm, sessions: 5, rpm: 50,
         untilSec: warm + sustained + spike},
        // spike: five more sessions on top, 500 req/min
        {name: 'spike', arriveFromSec: warm + sustained, arriveToSec: warm + sustained + 2,
         sessions: 5, rpm: 50, untilSec: warm + sustained + spike},
      ],
    },
    '2': {
      title: 'Gate 2 (rate limit)',
      sessionBase: 1000,
      groups: [
        // one client address (three sessions behind it, say a NAT) at 250 req/min in all
        {name: 'hot', arriveFromSec: 0, arriveToSec: 1, sessions: 3, rpm: 250 / 3, untilSec: 62,
         sharedIp: '10.250.0.1'},
        // three other clients at 20 req/min each
        {name: 'others', arriveFromSec: 4, arriveToSec: 5, sessions: 3, rpm: 20, untilSec: 62},
      ],
    },
  };
}

async function call(url, method, body, token) {
  const headers = {'content-type': 'application/json'};
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, {method, headers, body: body && JSON.stringify(body)});
  const text = await res.text();
  return {status: res.status, body: text ? JSON.parse(text) : null};
}

async function createUsers(args, first, count, password) {
  const admin = fs.readFileSync(args.adminPasswordFile, 'utf8').trim();
  const login = await call(`${args.url}/api/auth/login`, 'POST', {username: 'admin', password: admin});
  if (login.status !== 200) throw new Error(`admin login: ${login.status} ${JSON.stringify(login.body)}`);
  for (let s = first; s < first + count; s++) {
    const r = await call(`${args.url}/api/users`, 'POST',
        {username: `load${s}`, password, role: 'user'}, login.body.accessToken);
    if (r.status !== 201) throw new Error(`create user load${s}: ${r.status} ${JSON.stringify(r.body)}`);
  }
}

function artilleryScript(args, plan) {
  const phases = [];
  let t = 0;
  for (const g of plan.groups) {
    if (g.arriveFromSec > t) phases.push({name: `wait for ${g.name}`, pause: g.arriveFromSec - t});
    phases.push({name: g.name, duration: g.arriveToSec - g.arriveFromSec, arrivalCount: g.sessions});
    t = g.arriveToSec;
  }
  return {
    config: {
      target: args.url,
      // A run with waitMs 10000 may take that long, and the gateway gives it 2 s more.
      http: {timeout: 15},
      processor: path.join(__dirname, 'processor.js'),
      phases,
    },
    scenarios: [{
      name: 'session',
      flow: [
        {function: 'startSession'},
        {loop: [
          {function: 'pace'},
          {post: {url: '/', ifTrue: 'hasRequest', beforeRequest: 'prepare', afterResponse: 'record'}},
        ], whileTrue: 'goOn'},
        {function: 'endSession'},
      ],
    }],
  };
}

// Every service's pid alive (not a zombie) and /readyz 200.
async function liveness(args) {
  const services = {};
  for (const f of fs.readdirSync(args.runDir).filter((f) => f.endsWith('.pid'))) {
    const pid = fs.readFileSync(path.join(args.runDir, f), 'utf8').trim();
    let state = '';
    try {
      state = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0];
    } catch {
      state = '';
    }
    services[f.replace(/\.pid$/, '')] = state !== '' && state !== 'Z';
  }
  // A new connection (node:http without an agent): a kept-alive one from before the run may
  // have been closed by the gateway meanwhile.
  const readyz = await new Promise((resolve) => {
    const req = http.get(`${args.url}/readyz`, {agent: false, timeout: 5000}, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => {
      console.error(`load-gates: /readyz: ${err.message}`);
      resolve(0);
    });
  });
  return {services, readyz};
}

async function runGate(args, mix, id, plan) {
  const dir = path.join(args.out, `gate${id}`);
  fs.mkdirSync(path.join(dir, 'sessions'), {recursive: true});
  const total = plan.groups.reduce((n, g) => n + g.sessions, 0);
  const password = crypto.randomBytes(18).toString('base64url');
  await createUsers(args, plan.sessionBase + 1, total, password);
  const planFile = path.join(dir, 'plan.json');
  fs.writeFileSync(planFile, JSON.stringify({...plan, t0: Date.now(), password,
                                             sessionsDir: path.join(dir, 'sessions')}));
  const scriptFile = path.join(dir, 'artillery.json');
  fs.writeFileSync(scriptFile, JSON.stringify(artilleryScript(args, plan), null, 1));
  const reportFile = path.join(dir, 'report.json');
  const logFile = path.join(dir, 'artillery.log');
  console.log(`--- ${plan.title}: Artillery running (${path.relative(process.cwd(), logFile)})`);
  const started = Date.now();
  const r = spawnSync(path.join(__dirname, 'node_modules/.bin/artillery'),
      ['run', '--output', reportFile, scriptFile],
      {env: {...process.env, SPINE_LOAD_PLAN: planFile, ARTILLERY_DISABLE_TELEMETRY: 'true'},
       stdio: ['ignore', fs.openSync(logFile, 'w'), fs.openSync(logFile, 'a')]});
  const seconds = (Date.now() - started) / 1000;
  if (r.status !== 0 || !fs.existsSync(reportFile)) {
    process.stderr.write(fs.readFileSync(logFile, 'utf8').slice(-4000));
    return {name: `Gate ${id}`, pass: false, failures: [`artillery exited ${r.status}`], figures: {}};
  }
  const digest = gates.digest(JSON.parse(fs.readFileSync(reportFile, 'utf8')));
  const alive = await liveness(args);
  console.log(gates.formatTable(digest));
  console.log(`(Artillery ran ${seconds.toFixed(0)} s)`);
  return id === '1' ? gates.checkGate1(digest, {mix, alive})
                    : gates.checkGate2(digest, {mix, alive, hot: 'hot', others: 'others',
                                                perMinute: 100});
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const mix = JSON.parse(fs.readFileSync(path.join(__dirname, 'mix.json'), 'utf8'));
  const plans = gatePlans(args.full);
  const verdicts = [];
  for (const id of args.gates) verdicts.push(await runGate(args, mix, id, plans[id]));
  console.log('');
  for (const v of verdicts) console.log(gates.formatVerdict(v));
  const failed = verdicts.filter((v) => !v.pass).map((v) => v.name);
  if (failed.length > 0) {
    console.log(`load-gates: FAILED: ${failed.join(', ')}`);
    process.exit(1);
  }
  console.log('load-gates: all gates passed');
}

main().catch((err) => {
  console.error(`load-gates: ${err.stack || err}`);
  process.exit(1);
});
