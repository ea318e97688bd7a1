// bench/compare's client for both sides (Spine's gateway and a peer), over HTTP with Node's own
// fetch; no npm packages.
//
//   node prepare.mjs seed URL PASSWORD_FILE COUNT OUT_DIR
//     logs in as admin, writes OUT_DIR/token (mode 0600) and creates COUNT thoughts (16 at a
//     time), writing their ids to OUT_DIR/ids, one a line. Exits 1 on any failed call.
//   node prepare.mjs contract SPINE_URL SPINE_TOKEN_FILE PEER_URL PEER_TOKEN_FILE
//     sends the same requests to both (good and bad bodies, ids, tokens, media types) and checks
//     that the peer answers as Spine does: the same HTTP status, error.status, error reason and
//     headers that carry meaning (Location, WWW-Authenticate, Allow), the same success fields.
//     A different message is printed as a note. Exits 1 on a difference that is not a note.
import fs from 'node:fs';
import path from 'node:path';

const [mode, ...args] = process.argv.slice(2);
const fail = (message) => {
  console.error(`prepare.mjs: ${message}`);
  process.exit(1);
};

async function call(url, method, urlPath, { token, body, contentType = 'application/json', raw } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (raw !== undefined) payload = raw;
  else if (body !== undefined) payload = JSON.stringify(body);
  if (payload !== undefined && contentType) headers['Content-Type'] = contentType;
  const res = await fetch(url + urlPath, { method, headers, body: payload, signal: AbortSignal.timeout(10000) });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: compared as null
  }
  return { status: res.status, headers: res.headers, json, text };
}

async function login(url, passwordFile) {
  const password = fs.readFileSync(passwordFile, 'utf8').trim();
  const res = await call(url, 'POST', '/api/auth/login', { body: { username: 'admin', password } });
  if (res.status !== 200 || typeof res.json?.accessToken !== 'string') {
    fail(`login at ${url} answered ${res.status}: ${res.text.slice(0, 200)}`);
  }
  return res.json.accessToken;
}

async function seed([url, passwordFile, countText, outDir]) {
  const count = Number(countText);
  if (!url || !passwordFile || !Number.isInteger(count) || count < 1 || !outDir) {
    fail('usage: seed URL PASSWORD_FILE COUNT OUT_DIR');
  }
  const token = await login(url, passwordFile);
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'token'), token, { mode: 0o600 });
  const ids = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const body = { text: `seeded thought ${i}: what does a request cost?`, tags: ['bench', `t${i % 16}`] };
      const res = await call(url, 'POST', '/api/thoughts', { token, body });
      if (res.status !== 201 || typeof res.json?.id !== 'string') {
        fail(`POST /api/thoughts at ${url} answered ${res.status}: ${res.text.slice(0, 200)}`);
      }
      ids[i] = res.json.id;
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  fs.writeFileSync(path.join(outDir, 'ids'), `${ids.join('\n')}\n`);
}

// The cases: [name, method, path, options]; `token: true` sends the side's token.
function cases(id) {
  const long = (n) => 'x'.repeat(n);
  const post = (name, options) => [name, 'POST', '/api/thoughts', { token: true, ...options }];
  return [
    post('create', { body: { text: 'contract check', tags: ['a', 'b', 'a'] } }),
    ['get', 'GET', `/api/thoughts/${id}`, { token: true }],
    ['get unknown id', 'GET', '/api/thoughts/999999999', { token: true }],
    ['get non-numeric id', 'GET', '/api/thoughts/abc', { token: true }],
    ['get without a token', 'GET', `/api/thoughts/${id}`, {}],
    ['get with a garbage token', 'GET', `/api/thoughts/${id}`, { tokenText: 'not.a.token' }],
    post('empty body', { raw: '' }),
    post('empty object', { body: {} }),
    post('unknown field', { body: { text: 'x', txt: 'y' } }),
    post('text not a string', { body: { text: 5 } }),
    post('tags not an array', { body: { text: 'x', tags: 'a' } }),
    post('tag not a string', { body: { text: 'x', tags: [1] } }),
    post('empty tag', { body: { text: 'x', tags: ['ok', ''] } }),
    post('tag of 65 characters', { body: { text: 'x', tags: [long(65)] } }),
    post('tag with a control character', { body: { text: 'x', tags: ['a\u0001'] } }),
    post('17 distinct tags', { body: { text: 'x', tags: Array.from({ length: 17 }, (_, i) => `t${i}`) } }),
    post('17 tags with a duplicate', { body: { text: 'x', tags: [...Array.from({ length: 16 }, (_, i) => `t${i}`), 't0'] } }),
    post('text of 10 001 characters', { body: { text: long(10001) } }),
    post('text of 10 000 two-byte characters', { body: { text: 'é'.repeat(10000) } }),
    post('text with a NUL', { body: { text: 'a\u0000b' } }),
    post('malformed JSON', { raw: '{"text": ' }),
    post('a JSON array', { raw: '[]' }),
    post('text/plain body', { raw: '{"text": "x"}', contentType: 'text/plain' }),
    post('body over 1 MiB', { body: { text: long(1024 * 1024 + 10) } }),
    ['wrong method', 'PUT', `/api/thoughts/${id}`, { token: true, body: { text: 'x' } }],
    ['unknown route', 'GET', '/api/nothing-here', { token: true }],
    ['login with a wrong password', 'POST', '/api/auth/login', { body: { username: 'admin', password: 'wrong password!' } }],
    ['login with an unknown user', 'POST', '/api/auth/login', { body: { username: 'nobody', password: 'wrong password!' } }],
    ['login with an unknown field', 'POST', '/api/auth/login', { body: { username: 'admin', pass: 'x' } }],
  ];
}

// What must match, and what is only noted.
function shape(res) {
  const err = res.json?.error;
  const out = {
    status: res.status,
    'error.status': err?.status,
    'error.code': err?.code,
    reason: err?.details?.[0]?.reason,
    domain: err?.details?.[0]?.domain,
    'WWW-Authenticate': res.headers.get('www-authenticate'),
    Allow: res.headers.get('allow') && res.headers.get('allow').split(/,\s*/).includes('GET') ? 'has GET' : null,
    Location: res.headers.get('location') ? 'set' : null,
    'X-Request-Id': res.headers.get('x-request-id') ? 'set' : null,
  };
  if (!err && res.json && typeof res.json === 'object') out.fields = Object.keys(res.json).sort().join(',');
  if (res.json?.tags) out.tags = JSON.stringify(res.json.tags);
  return out;
}

async function contract([spineUrl, spineTokenFile, peerUrl, peerTokenFile]) {
  if (!spineUrl || !spineTokenFile || !peerUrl || !peerTokenFile) {
    fail('usage: contract SPINE_URL SPINE_TOKEN_FILE PEER_URL PEER_TOKEN_FILE');
  }
  const sides = [
    { name: 'spine', url: spineUrl, token: fs.readFileSync(spineTokenFile, 'utf8').trim() },
    { name: 'peer', url: peerUrl, token: fs.readFileSync(peerTokenFile, 'utf8').trim() },
  ];
  // Each side's own thought for the id cases.
  for (const side of sides) {
    const res = await call(side.url, 'POST', '/api/thoughts', { token: side.token, body: { text: 'mine' } });
    if (res.status !== 201) fail(`${side.name}: POST /api/thoughts answered ${res.status}`);
    side.id = res.json.id;
  }
  let differences = 0;
  let notes = 0;
  const cacheControl = [];
  let count = 0;
  for (const side of sides) side.cases = cases(side.id);
  for (let i = 0; i < sides[0].cases.length; i++) {
    const answers = [];
    for (const side of sides) {
      const [, method, urlPath, options] = side.cases[i];
      const token = options.tokenText ?? (options.token ? side.token : undefined);
      answers.push(await call(side.url, method, urlPath, { ...options, token }));
    }
    const name = sides[0].cases[i][0];
    count++;
    const [a, b] = answers.map(shape);
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (a[key] !== b[key]) {
        differences++;
        console.log(`contract: ${name}: ${key} differs: spine ${JSON.stringify(a[key])}, peer ${JSON.stringify(b[key])}`);
      }
    }
    // Spine's error answers carry no Cache-Control although docs/api.md says every answer does;
    // the peer follows the page, and the difference is only noted.
    const [ca, cb] = answers.map((r) => r.headers.get('cache-control'));
    if (ca !== cb) cacheControl.push(`${name} (spine ${JSON.stringify(ca)}, peer ${JSON.stringify(cb)})`);
    const [ma, mb] = answers.map((r) => r.json?.error?.message);
    if (ma !== mb) {
      notes++;
      console.log(`contract: note: ${name}: message differs: spine ${JSON.stringify(ma)}, peer ${JSON.stringify(mb)}`);
    }
  }
  if (cacheControl.length > 0) {
    notes++;
    console.log(`contract: note: Cache-Control differs in ${cacheControl.length} answers: ${cacheControl[0]}, ...`);
  }
  console.log(`contract: ${count} cases, ${differences} differences, ${notes} notes`);
  if (differences > 0) process.exit(1);
}

if (mode === 'seed') await seed(args);
else if (mode === 'contract') await contract(args);
else fail('usage: node prepare.mjs seed|contract ...');
