// Worker harness: loads one plugin and answers its host over stdin/stdout, one JSON per line.
//   started: {"ready":true}, or {"fatal":"<why>"} and exit when the plugin cannot be loaded
//   request  {"id":N,"input":<JSON>}
//   answer   {"id":N,"output":<JSON>,"logs":[...]} | {"id":N,"error":"<message>","logs":[...]}
//            | {"id":N,"badOutput":"<why>","logs":[...]}
// The plugin's console.* goes into "logs" (bounded), never onto stdout. This is not a security
// boundary — the kernel sandbox is — it only keeps the protocol tidy.
'use strict';
const util = require('util');
const entry = process.argv[1];
const MAX_LOG_LINES = 100;
const MAX_LOG_CHARS = 1000;
const MAX_LOG_TOTAL = 16384;
const MAX_MESSAGE_CHARS = 1000;
const MAX_REQUEST_CHARS = 8 * 1024 * 1024;

const send = process.stdout.write.bind(process.stdout);
let logs = [];
let logTotal = 0;
let dropped = 0;

function capture(...args) {
  let line;
  try {
    line = util.format(...args).slice(0, MAX_LOG_CHARS);
  } catch (e) {
    line = '<unprintable log line>';
  }
  if (logs.length < MAX_LOG_LINES && logTotal + line.length <= MAX_LOG_TOTAL) {
    logs.push(line);
    logTotal += line.length;
  } else {
    dropped++;
  }
}
for (const name of ['log', 'info', 'warn', 'error', 'debug', 'trace', 'dir', 'table']) {
  console[name] = capture;
}

function describe(e) {
  try {
    const text = e instanceof Error ? e.message : String(e);
    return text.split(entry).join('<entry>').slice(0, MAX_MESSAGE_CHARS);
  } catch (_) {
    return 'an unprintable value was thrown';
  }
}

function takeLogs() {
  const taken = logs;
  if (dropped > 0) taken.push('(' + dropped + ' more log lines dropped)');
  logs = [];
  logTotal = 0;
  dropped = 0;
  return taken;
}

let plugin;
try {
  const exported = require(entry);
  plugin = typeof exported === 'function' ? exported
      : (exported && typeof exported.default === 'function' ? exported.default : null);
  if (!plugin) throw new Error('the entry must export a function (module.exports = async (input) => output)');
} catch (e) {
  send(JSON.stringify({fatal: describe(e)}) + '\n');
  process.exit(70);
}
takeLogs();  // what the plugin printed while loading belongs to no invocation
send('{"ready":true}\n');

async function handle(line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch (e) {
    process.exit(65);  // the host never sends this; stop rather than guess
  }
  const id = Number(request.id);
  let reply;
  try {
    const output = await plugin(request.input);
    let text;
    try {
      text = JSON.stringify(output === undefined ? null : output);
    } catch (e) {
      text = undefined;
      reply = {id, badOutput: 'the output is not JSON: ' + describe(e)};
    }
    if (!reply && text === undefined) reply = {id, badOutput: 'the output is not JSON'};
    if (!reply) {
      send('{"id":' + id + ',"output":' + text + ',"logs":' + JSON.stringify(takeLogs()) + '}\n');
      return;
    }
  } catch (e) {
    reply = {id, error: describe(e)};
  }
  reply.logs = takeLogs();
  send(JSON.stringify(reply) + '\n');
}

let buffered = '';
const pending = [];
let busy = false;
async function drain() {
  if (busy) return;
  busy = true;
  while (pending.length > 0) await handle(pending.shift());
  busy = false;
}
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  if (buffered.length > MAX_REQUEST_CHARS) process.exit(65);
  let newline;
  while ((newline = buffered.indexOf('\n')) >= 0) {
    pending.push(buffered.slice(0, newline));
    buffered = buffered.slice(newline + 1);
  }
  drain();
});
process.stdin.on('end', () => process.exit(0));
