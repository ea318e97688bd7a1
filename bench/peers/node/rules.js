// The Node peer's rules, written from docs/api.md and services/storage/thought_validation.cc so
// that both sides of bench/compare do the same work per request: the error shape, strict bodies,
// a thought's text and tags, proto3 JSON timestamps. Pure functions, no dependencies, so
// rules.test.js runs with plain `node --test` (CTest bench_peer_rules).

// gRPC code name -> HTTP status, the table of docs/api.md ("Errors").
const HTTP_FOR_CODE = {
  INVALID_ARGUMENT: 400,
  FAILED_PRECONDITION: 400,
  OUT_OF_RANGE: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  ABORTED: 409,
  RESOURCE_EXHAUSTED: 429,
  CANCELLED: 499,
  UNKNOWN: 500,
  INTERNAL: 500,
  DATA_LOSS: 500,
  UNIMPLEMENTED: 501,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
};

/** An error the routes throw; `httpStatus` overrides the table (405, 413, 415 have their own). */
export class ApiError extends Error {
  constructor(status, message, reason = status, httpStatus = undefined, headers = {}) {
    super(message);
    this.status = status;
    this.reason = reason;
    this.httpStatus = httpStatus ?? HTTP_FOR_CODE[status] ?? 500;
    this.headers = headers;
  }
}

export const invalid = (message) => new ApiError('INVALID_ARGUMENT', message);

/** {"error":{"code","status","message","details":[ErrorInfo]}}, as the gateway writes it. */
export function errorBody(err) {
  return {
    error: {
      code: err.httpStatus,
      status: err.status,
      message: err.message,
      details: [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: err.reason,
          domain: 'spine',
          metadata: {},
        },
      ],
    },
  };
}

export const MAX_TEXT_CODE_POINTS = 10000;
export const MAX_TAGS = 16;
export const MAX_TAG_CODE_POINTS = 64;

function codePoints(s) {
  let n = 0;
  // eslint-disable-next-line no-unused-vars
  for (const _ of s) n++;
  return n;
}

// A JS string from JSON.parse is UTF-16; a lone surrogate is what invalid UTF-8 would have been
// (the gateway refuses it while parsing, as "malformed JSON or invalid UTF-8").
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// C0, DEL and C1, as HasControlCharacter in thought_validation.cc.
const CONTROL = /[\u0000-\u001F\u007F-\u009F]/;

/** Throws unless `body` (a parsed JSON value) has only string keys without NUL or lone surrogates. */
export function checkStrings(value, where = 'body') {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) throw invalid(`${where}: contains a NUL character (\\u0000)`);
    if (LONE_SURROGATE.test(value)) throw invalid('body: malformed JSON or invalid UTF-8');
  } else if (Array.isArray(value)) {
    for (const item of value) checkStrings(item, where);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (key.includes('\u0000') || LONE_SURROGATE.test(key)) {
        throw invalid('body: malformed JSON or invalid UTF-8');
      }
      checkStrings(item, key);
    }
  }
}

/**
 * Checks a request body against the fields a message has, as the gateway's strict parsing does:
 * an object, no unknown field, each value of its JSON type (null counts as absent). `fields` maps
 * a name to 'string' or 'string[]'. Returns the body with absent fields as their zero values.
 */
export function parseMessage(body, fields) {
  if (body === undefined) body = {};
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalid('body: must be a JSON object');
  }
  checkStrings(body);
  const out = {};
  for (const [name, kind] of Object.entries(fields)) out[name] = kind === 'string' ? '' : [];
  for (const [key, value] of Object.entries(body)) {
    const kind = fields[key];
    if (kind === undefined) throw invalid(`${key}: Cannot find field.`);
    if (value === null) continue;
    if (kind === 'string') {
      if (typeof value !== 'string') throw invalid(`${key}: expected a string`);
    } else {
      if (!Array.isArray(value)) throw invalid(`${key}: expected a JSON array`);
      value.forEach((item, i) => {
        if (typeof item !== 'string') throw invalid(`${key}[${i}]: expected a string`);
      });
    }
    out[key] = value;
  }
  return out;
}

/** ValidateThoughtText: 1..10 000 code points (UTF-8 validity is checkStrings'). */
export function validateText(text) {
  if (text.length === 0) throw invalid('text: must not be empty');
  const n = codePoints(text);
  if (n > MAX_TEXT_CODE_POINTS) {
    throw invalid(`text: ${n} characters, at most ${MAX_TEXT_CODE_POINTS}`);
  }
}

/** NormalizeTags: each tag checked in order, then exact duplicates dropped, then the count. */
export function normalizeTags(tags) {
  tags.forEach((tag, i) => {
    if (tag.length === 0) throw invalid(`tags[${i}]: must not be empty`);
    const n = codePoints(tag);
    if (n > MAX_TAG_CODE_POINTS) {
      throw invalid(`tags[${i}]: ${n} characters, at most ${MAX_TAG_CODE_POINTS}`);
    }
    if (CONTROL.test(tag)) throw invalid(`tags[${i}]: contains a control character`);
  });
  const unique = [...new Set(tags)];
  if (unique.length > MAX_TAGS) throw invalid(`tags: ${unique.length} tags, at most ${MAX_TAGS}`);
  return unique;
}

/**
 * A protobuf Timestamp in proto3 JSON from microseconds since the epoch: RFC 3339 in UTC with 0,
 * 3 or 6 fractional digits, as protobuf prints it.
 */
export function timestampJson(micros) {
  const ms = Math.floor(micros / 1000);
  const sub = micros % 1000000;
  const base = new Date(ms).toISOString().slice(0, 19);
  if (sub === 0) return `${base}Z`;
  if (sub % 1000 === 0) return `${base}.${String(sub / 1000).padStart(3, '0')}Z`;
  return `${base}.${String(sub).padStart(6, '0')}Z`;
}

/** The Thought resource of a stored row. */
export function thoughtJson(row) {
  return {
    id: String(row.id),
    text: row.text,
    tags: JSON.parse(row.tags_json),
    createdAt: timestampJson(row.create_micros),
    updatedAt: timestampJson(row.update_micros),
  };
}

/** A path id: a decimal int64, as the gateway's transcoder reads `{id}`. */
export function parseId(text) {
  if (!/^-?\d{1,19}$/.test(text)) throw invalid(`id: '${text.slice(0, 64)}' is not an integer`);
  const id = BigInt(text);
  if (id > 9223372036854775807n || id < -9223372036854775808n) {
    throw invalid(`id: '${text.slice(0, 64)}' is not an integer`);
  }
  return id;
}

/** X-Request-Id: the client's when valid (1-128 of A-Z a-z 0-9 . _ : -), else null. */
export function validRequestId(value) {
  return typeof value === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(value) ? value : null;
}
