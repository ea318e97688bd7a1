// The Node peer of bench/compare (issue 19): what a competent one-process Node service of the
// same three routes looks like, so Spine's figures have something to be compared with.
//   POST /api/auth/login     {username, password} -> {accessToken, tokenType, expiresIn}
//   POST /api/thoughts       {text, tags} -> 201 Thought, Location
//   GET  /api/thoughts/{id}  -> Thought (another user's: 404 THOUGHT_NOT_FOUND)
//   GET  /healthz            -> 200 (not rate limited)
// Same routes, strict bodies, thought rules and error shape as docs/api.md (rules.js); Express 5,
// jose (EdDSA access tokens, 15 min, iss/aud "spine", kid), express-rate-limit (per client
// address), better-sqlite3 (Spine's thoughts schema with FTS5, WAL, synchronous=FULL), scrypt
// N=2^15 r=8 p=1 password hashes as Spine stores them. No refresh tokens: the peer has no
// refresh route.
//
// Environment:
//   PEER_ADDR                   host:port to listen on (default 127.0.0.1:8090)
//   PEER_DATA_DIR               where peer.db goes (required)
//   PEER_ADMIN_USERNAME         the first user (default admin), created on first start
//   PEER_ADMIN_PASSWORD_FILE    its password (required on first start)
//   PEER_RATE_LIMIT_PER_MINUTE  requests per client address per minute (default 100)
//   PEER_TRUSTED_PROXIES        Express "trust proxy" addresses, comma-separated (default none)
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

import Database from 'better-sqlite3';
import express from 'express';
import { rateLimit } from 'express-rate-limit';
import { SignJWT, jwtVerify } from 'jose';

import {
  ApiError,
  errorBody,
  invalid,
  normalizeTags,
  parseId,
  parseMessage,
  thoughtJson,
  validRequestId,
  validateText,
} from './rules.js';

const env = process.env;
const [host, port] = (env.PEER_ADDR ?? '127.0.0.1:8090').split(/:(?=\d+$)/);
const dataDir = env.PEER_DATA_DIR;
if (!dataDir) {
  console.error('peer: PEER_DATA_DIR is required');
  process.exit(2);
}
const ratePerMinute = Number(env.PEER_RATE_LIMIT_PER_MINUTE ?? 100);
if (!Number.isInteger(ratePerMinute) || ratePerMinute < 1) {
  console.error(`peer: PEER_RATE_LIMIT_PER_MINUTE=${env.PEER_RATE_LIMIT_PER_MINUTE} is not a positive integer`);
  process.exit(2);
}

// --- storage: Spine's tables for thoughts (services/storage/sqlite/migrations.cc, migration 1)
fs.mkdirSync(dataDir, { recursive: true });
const db = new Database(path.join(dataDir, 'peer.db'));
db.pragma('journal_mode = WAL');
// FULL: every commit is fsynced before the answer (Spine's storage runs WAL with NORMAL).
db.pragma('synchronous = FULL');
db.pragma('foreign_keys = ON');
db.pragma('busy_timeout = 5000');
db.exec(`
CREATE TABLE IF NOT EXISTS users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  username TEXT NOT NULL UNIQUE COLLATE NOCASE,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS thoughts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  text TEXT NOT NULL,
  tags_json TEXT NOT NULL,
  create_micros INTEGER NOT NULL,
  update_micros INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS thoughts_by_user_newest ON thoughts (user_id, create_micros DESC, id DESC);
CREATE TABLE IF NOT EXISTS thought_tags (
  thought_id INTEGER NOT NULL REFERENCES thoughts (id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL,
  tag TEXT NOT NULL,
  PRIMARY KEY (thought_id, tag)
);
CREATE INDEX IF NOT EXISTS thought_tags_by_user_tag ON thought_tags (user_id, tag, thought_id);
CREATE VIRTUAL TABLE IF NOT EXISTS thoughts_fts USING fts5 (
  text, content = 'thoughts', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS thoughts_fts_insert AFTER INSERT ON thoughts BEGIN
  INSERT INTO thoughts_fts (rowid, text) VALUES (new.id, new.text);
END;
`);
const insertThought = db.prepare(
  'INSERT INTO thoughts (user_id, text, tags_json, create_micros, update_micros) VALUES (?, ?, ?, ?, ?)',
);
const insertTag = db.prepare('INSERT INTO thought_tags (thought_id, user_id, tag) VALUES (?, ?, ?)');
const selectThought = db.prepare(
  'SELECT id, text, tags_json, create_micros, update_micros FROM thoughts WHERE id = ? AND user_id = ?',
);
const selectUserByName = db.prepare('SELECT id, username, password_hash, role FROM users WHERE username = ?');
const selectUserById = db.prepare('SELECT id FROM users WHERE id = ?');
const createThought = db.transaction((userId, text, tags, micros) => {
  const { lastInsertRowid: id } = insertThought.run(userId, text, JSON.stringify(tags), micros, micros);
  for (const tag of tags) insertTag.run(id, userId, tag);
  return { id, text, tags_json: JSON.stringify(tags), create_micros: micros, update_micros: micros };
});

// --- passwords: $scrypt$ln=15,r=8,p=1$<salt>$<key>, the format and cost of libs/auth/password_hash
const scrypt = promisify(crypto.scrypt);
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
async function hashPassword(password) {
  const salt = crypto.randomBytes(16);
  const key = await scrypt(password, salt, 32, SCRYPT);
  return `$scrypt$ln=15,r=8,p=1$${salt.toString('base64url')}$${key.toString('base64url')}`;
}
async function verifyPassword(password, stored) {
  const [, , , salt, key] = stored.split('$');
  const want = Buffer.from(key, 'base64url');
  const got = await scrypt(password, Buffer.from(salt, 'base64url'), want.length, SCRYPT);
  return crypto.timingSafeEqual(got, want);
}
// Unknown users are checked against this, so that they take as long as a wrong password.
const dummyHash = await hashPassword(crypto.randomBytes(16).toString('hex'));

const adminName = env.PEER_ADMIN_USERNAME ?? 'admin';
if (!selectUserByName.get(adminName)) {
  if (!env.PEER_ADMIN_PASSWORD_FILE) {
    console.error('peer: PEER_ADMIN_PASSWORD_FILE is required on first start');
    process.exit(2);
  }
  const password = fs.readFileSync(env.PEER_ADMIN_PASSWORD_FILE, 'utf8').trim();
  db.prepare('INSERT INTO users (username, password_hash, role) VALUES (?, ?, ?)').run(
    adminName,
    await hashPassword(password),
    'admin',
  );
}

// --- tokens: Ed25519, a key made at start (the peer's tokens do not outlive it)
const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
const kid = crypto.randomBytes(8).toString('hex');
const ACCESS_TTL_S = 15 * 60;
const unauthenticated = (message, reason = 'UNAUTHENTICATED') =>
  new ApiError('UNAUTHENTICATED', message, reason, undefined, {
    'WWW-Authenticate': 'Bearer realm="spine"',
  });

// Whether a token's user still exists, cached for 5 s as the gateway's session gate does.
const userSeen = new Map();
function userExists(id) {
  const now = Date.now();
  const seen = userSeen.get(id);
  if (seen !== undefined && now - seen.at < 5000) return seen.exists;
  if (userSeen.size > 10000) userSeen.clear();
  const exists = selectUserById.get(id) !== undefined;
  userSeen.set(id, { exists, at: now });
  return exists;
}

async function authenticate(req, _res, next) {
  try {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer ([A-Za-z0-9_.-]+)$/.exec(header);
    if (!match) throw unauthenticated('missing bearer token (authorization metadata)');
    let payload;
    try {
      ({ payload } = await jwtVerify(match[1], async (protectedHeader) => {
        if (protectedHeader.kid !== kid) throw new Error('unknown kid');
        return publicKey;
      }, { algorithms: ['EdDSA'], issuer: 'spine', audience: 'spine', clockTolerance: 30 }));
    } catch {
      throw unauthenticated('invalid access token');
    }
    const userId = Number(payload.sub);
    if (!Number.isSafeInteger(userId) || !userExists(userId)) {
      throw unauthenticated('the token\'s user no longer exists', 'TOKEN_USER_UNKNOWN');
    }
    req.user = { id: userId, name: payload.name, role: payload.role };
    next();
  } catch (err) {
    next(err);
  }
}

// Login lockout: 10 failures per username and client address in 15 min lock it for 15 min.
const failures = new Map();
const LOCK_MS = 15 * 60 * 1000;
function lockoutKey(req, username) {
  return `${req.ip}\n${username.toLowerCase()}`;
}
function checkLockout(key) {
  const entry = failures.get(key);
  if (!entry) return;
  if (Date.now() - entry.first > LOCK_MS) {
    failures.delete(key);
    return;
  }
  if (entry.count >= 10) {
    const retry = Math.ceil((entry.first + LOCK_MS - Date.now()) / 1000);
    throw new ApiError('RESOURCE_EXHAUSTED', 'too many failed logins; try again later',
      'RESOURCE_EXHAUSTED', undefined, { 'Retry-After': String(retry) });
  }
}
function recordFailure(key) {
  if (failures.size > 100000) failures.clear();
  const entry = failures.get(key) ?? { count: 0, first: Date.now() };
  entry.count++;
  failures.set(key, entry);
}

// --- HTTP
const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.set('trust proxy', env.PEER_TRUSTED_PROXIES ? env.PEER_TRUSTED_PROXIES.split(',') : false);

app.use((req, res, next) => {
  res.set('X-Request-Id', validRequestId(req.get('x-request-id')) ?? crypto.randomUUID());
  res.set('Cache-Control', 'no-store');
  next();
});
app.get('/healthz', (_req, res) => res.json({ status: 'ok' }));
app.use(
  rateLimit({
    windowMs: 60 * 1000,
    limit: ratePerMinute,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    identifier: 'default',
    ipv6Subnet: 64,
    handler: (_req, _res, next, options) =>
      next(new ApiError('RESOURCE_EXHAUSTED', 'rate limit exceeded for this client address',
        'RATE_LIMITED', undefined, { 'Retry-After': String(Math.ceil(options.windowMs / 1000)) })),
  }),
);

// A body must be JSON (an empty one counts as none); 1 MiB at most.
function jsonBody(req, res, next) {
  const hasBody = Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
  if (hasBody && !req.is('application/json')) {
    return next(new ApiError('INVALID_ARGUMENT', 'Content-Type must be application/json',
      'UNSUPPORTED_MEDIA_TYPE', 415));
  }
  return bodyParser(req, res, next);
}
const bodyParser = express.json({ limit: 1024 * 1024, strict: false, type: () => true });
// Express 5 passes a rejected promise on to the error handler.
const route = (fn) => (req, res, next) => Promise.resolve(fn(req, res)).catch(next);

app.post('/api/auth/login', jsonBody, route(async (req, res) => {
  const { username, password } = parseMessage(req.body, { username: 'string', password: 'string' });
  const key = lockoutKey(req, username);
  checkLockout(key);
  const user = selectUserByName.get(username);
  const ok = await verifyPassword(password, user?.password_hash ?? dummyHash);
  if (!user || !ok) {
    recordFailure(key);
    throw unauthenticated('invalid username or password');
  }
  failures.delete(key);
  const accessToken = await new SignJWT({ name: user.username, role: user.role })
    .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
    .setIssuer('spine')
    .setAudience('spine')
    .setSubject(String(user.id))
    .setIssuedAt()
    .setExpirationTime(`${ACCESS_TTL_S}s`)
    .setJti(crypto.randomUUID())
    .sign(privateKey);
  res.json({ accessToken, tokenType: 'Bearer', expiresIn: ACCESS_TTL_S });
}));

app.post('/api/thoughts', authenticate, jsonBody, route((req, res) => {
  const body = parseMessage(req.body, { text: 'string', tags: 'string[]' });
  validateText(body.text);
  const tags = normalizeTags(body.tags);
  const micros = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  const thought = createThought(req.user.id, body.text, tags, micros);
  res.status(201).location(`/api/thoughts/${thought.id}`).json(thoughtJson(thought));
}));

app.get('/api/thoughts/:id', authenticate, route((req, res) => {
  const id = parseId(req.params.id);
  const row = selectThought.get(id, req.user.id);
  if (!row) throw new ApiError('NOT_FOUND', `thought ${id} not found`, 'THOUGHT_NOT_FOUND');
  res.json(thoughtJson(row));
}));

// The three routes' other methods, then everything else.
for (const [pattern, allow] of [['/api/auth/login', 'POST'], ['/api/thoughts', 'POST'], ['/api/thoughts/:id', 'GET, HEAD']]) {
  app.all(pattern, (req, _res, next) =>
    next(new ApiError('UNIMPLEMENTED', `method ${req.method} is not allowed on ${req.path}`,
      'METHOD_NOT_ALLOWED', 405, { Allow: allow })));
}
app.use((req, _res, next) => next(new ApiError('NOT_FOUND', `no route for ${req.path}`, 'ROUTE_NOT_FOUND')));

// Every error in the one shape; body-parser's own errors mapped first. Never a stack trace.
// eslint-disable-next-line no-unused-vars
app.use((err, req, res, _next) => {
  let api = err;
  if (!(err instanceof ApiError)) {
    if (err.type === 'entity.too.large') {
      api = new ApiError('INVALID_ARGUMENT', `request body over ${err.limit} bytes`, 'BODY_TOO_LARGE', 413);
    } else if (err.type === 'entity.parse.failed' || err.type === 'encoding.unsupported' ||
               err.type === 'charset.unsupported') {
      api = invalid('body: malformed JSON or invalid UTF-8');
    } else {
      console.error(`peer: ${req.method} ${req.path}: ${err.message}`);
      api = new ApiError('INTERNAL', 'internal error');
    }
  }
  res.status(api.httpStatus).set(api.headers).json(errorBody(api));
});

const server = app.listen(Number(port), host, () => {
  console.log(`peer: listening on ${host}:${server.address().port}`);
});
server.keepAliveTimeout = 65 * 1000;
const stop = () => {
  server.close(() => {
    db.close();
    process.exit(0);
  });
  server.closeAllConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
