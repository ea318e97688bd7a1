// hostile: attacks its sandbox as `input.attack` says, and reports what happened.
'use strict';
const fs = require('fs');
const net = require('net');
const childProcess = require('child_process');

// Runs `attempt` and answers {result: 'ok'} or the error's code.
function outcome(attempt) {
  try {
    const value = attempt();
    return {result: 'ok', value: value === undefined ? null : String(value).slice(0, 200)};
  } catch (e) {
    return {result: e.code || String(e.message).slice(0, 200)};
  }
}

// Module state lives as long as the worker: it shows warm reuse and recycling.
let invocations = 0;

const attacks = {
  echo: (input) => input,
  count: () => ({result: ++invocations}),
  readFile: (input) => outcome(() => fs.readFileSync(input.path, 'utf8')),
  writeFile: (input) => outcome(() => fs.writeFileSync(input.path, 'hostile was here')),
  symlinkRead: (input) => outcome(() => {
    fs.symlinkSync(input.target, input.link);
    return fs.readFileSync(input.link, 'utf8');
  }),
  hardLink: (input) => outcome(() => fs.linkSync(input.target, input.link)),
  connectPath: (input) => new Promise((resolve) => {
    const socket = net.connect({path: input.path});
    socket.on('connect', () => {
      socket.destroy();
      resolve({result: 'connected'});
    });
    socket.on('error', (e) => resolve({result: e.code}));
  }),
  listDir: (input) => outcome(() => fs.readdirSync(input.path).join(',')),
  connect: (input) => new Promise((resolve) => {
    const socket = net.connect(input.port, input.host || '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolve({result: 'connected'});
    });
    socket.on('error', (e) => resolve({result: e.code}));
  }),
  listen: () => new Promise((resolve) => {
    const server = net.createServer();
    server.on('error', (e) => resolve({result: e.code}));
    server.listen(0, '127.0.0.1', () => resolve({result: 'listening'}));
  }),
  spawn: () => outcome(() => childProcess.execFileSync('/bin/sh', ['-c', 'cat /etc/passwd'])),
  forkBomb: () => {
    let started = 0;
    let error = 'none';
    for (let i = 0; i < 200; i++) {
      try {
        const child = childProcess.spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'],
            {stdio: 'ignore'});
        child.on('error', () => {});
        if (child.pid === undefined) {
          error = 'spawn refused';
          break;
        }
        started++;
      } catch (e) {
        error = e.code || e.message;
        break;
      }
    }
    return {result: error, started};
  },
  signal: (input) => outcome(() => process.kill(input.pid, 'SIGKILL')),
  env: () => ({result: Object.keys(process.env).join(',')}),
  memoryBomb: () => {
    const held = [];
    for (;;) held.push(new Array(1 << 20).fill(Math.random()));
  },
  bufferBomb: () => {
    const held = [];
    for (;;) held.push(Buffer.alloc(16 << 20, 1));  // outside V8's heap: the kernel limit
  },
  spin: () => {
    for (;;) {}
  },
  ignoreTerm: () => {
    process.on('SIGTERM', () => {});
    for (;;) {}
  },
  exit: () => process.exit(3),
  throws: () => {
    throw new Error('hostile threw on purpose');
  },
  garbage: () => {
    process.stdout.write('this is not the answer\n');
    return {result: 'after garbage'};
  },
  flood: () => {
    const chunk = 'x'.repeat(1 << 16);
    for (;;) process.stdout.write(chunk);
  },
  closeStdout: () => {
    fs.closeSync(1);
    return new Promise(() => {});
  },
  closeStderrThenWait: (input) => {
    fs.closeSync(2);
    return new Promise((resolve) => setTimeout(() => resolve({result: 'waited'}), input.ms));
  },
  // Only where the test copied a compiled addon beside this file (tests/sandbox/hostile_addon.cc).
  native: (input) => ({result: require('./addon.node').attempt(input.call, input.port || 0)}),
  // Pure JavaScript turning into native code: writes the object it was handed (base64) where it
  // may write, then loads it.
  dlopenWritten: (input) => {
    fs.writeFileSync(input.path, Buffer.from(input.object, 'base64'));
    const module = {exports: {}};
    try {
      process.dlopen(module, input.path);
    } catch (e) {
      return {result: 'refused', message: String(e.message).slice(0, 200)};
    }
    return {result: 'loaded', attempt: module.exports.attempt(input.call, input.port || 0)};
  },
  // Writes files of chunkKB into input.dir, pauseMs apart, until totalKB or an error.
  fill: async (input) => {
    let written = 0;
    try {
      for (let i = 0; written < input.totalKB * 1024; i++) {
        fs.writeFileSync(input.dir + '/fill' + i, Buffer.alloc(input.chunkKB * 1024, 1));
        written += input.chunkKB * 1024;
        await new Promise((resolve) => setTimeout(resolve, input.pauseMs || 0));
      }
      return {result: 'ok', written};
    } catch (e) {
      return {result: e.code || String(e.message), written};
    }
  },
  // The same, after answering: the worker writes while it idles.
  fillLater: (input) => {
    setTimeout(() => attacks.fill(input), 0);
    return {result: 'started'};
  },
  // Grows one file by chunkKB up to totalKB.
  append: (input) => outcome(() => {
    let kb = 0;
    for (; kb < input.totalKB; kb += input.chunkKB) {
      fs.appendFileSync(input.path, Buffer.alloc(input.chunkKB * 1024, 1));
    }
    return kb;
  }),
  hugeOutput: () => 'y'.repeat(2 << 20),
  // Slow but well-behaved: answers after `ms`.
  sleep: (input) => new Promise((resolve) => setTimeout(() => resolve({result: 'slept'}), input.ms)),
  // Answers at once, then burns CPU between invocations (a busy loop that still yields to the
  // event loop, so the worker keeps answering).
  spinAfterAnswer: () => {
    const spin = () => {
      const until = Date.now() + 5;
      while (Date.now() < until) {}
      setImmediate(spin);
    };
    setImmediate(spin);
    return {result: 'spinning', pid: process.pid};
  },
};

module.exports = async (input) => {
  const attack = attacks[input && input.attack];
  if (!attack) throw new Error('unknown attack');
  return attack(input);
};
