// The Node peer's rules (rules.js) against the limits of docs/api.md and the messages of
// services/storage/thought_validation.h: `node --test bench/peers/node/rules.test.js` (CTest
// bench_peer_rules). No npm packages needed. bench/compare checks the running peer against the
// running Spine on top of this (bench/peers/prepare.mjs contract).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  errorBody,
  invalid,
  normalizeTags,
  parseId,
  parseMessage,
  thoughtJson,
  timestampJson,
  validRequestId,
  validateText,
} from './rules.js';

const fields = { text: 'string', tags: 'string[]' };
const rejects = (fn, message) => assert.throws(fn, (err) => err.message === message && err.httpStatus === 400);

test('the error body has the gateway shape with the HTTP status from the table', () => {
  assert.deepEqual(errorBody(invalid('text: must not be empty')), {
    error: {
      code: 400,
      status: 'INVALID_ARGUMENT',
      message: 'text: must not be empty',
      details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'INVALID_ARGUMENT', domain: 'spine', metadata: {} }],
    },
  });
});

test('a body is an object of known fields of the right JSON types', () => {
  assert.deepEqual(parseMessage(undefined, fields), { text: '', tags: [] });
  assert.deepEqual(parseMessage({ text: 'a', tags: null }, fields), { text: 'a', tags: [] });
  rejects(() => parseMessage([], fields), 'body: must be a JSON object');
  rejects(() => parseMessage('x', fields), 'body: must be a JSON object');
  rejects(() => parseMessage({ text: 'a', txt: 'b' }, fields), 'txt: Cannot find field.');
  rejects(() => parseMessage({ text: 5 }, fields), 'text: expected a string');
  rejects(() => parseMessage({ text: 'a', tags: 'x' }, fields), 'tags: expected a JSON array');
  rejects(() => parseMessage({ text: 'a', tags: ['x', 2] }, fields), 'tags[1]: expected a string');
  rejects(() => parseMessage({ text: 'a\u0000' }, fields), 'text: contains a NUL character (\\u0000)');
  rejects(() => parseMessage({ text: 'a\uD800' }, fields), 'body: malformed JSON or invalid UTF-8');
});

test('text is 1..10 000 code points', () => {
  rejects(() => validateText(''), 'text: must not be empty');
  validateText('x'.repeat(10000));
  validateText('\u{1F600}'.repeat(10000)); // 20 000 UTF-16 units, 10 000 code points
  rejects(() => validateText('x'.repeat(10001)), 'text: 10001 characters, at most 10000');
});

test('tags are checked in order, deduplicated keeping order, then counted', () => {
  assert.deepEqual(normalizeTags(['b', 'a', 'b']), ['b', 'a']);
  rejects(() => normalizeTags(['ok', '']), 'tags[1]: must not be empty');
  rejects(() => normalizeTags(['x'.repeat(65)]), 'tags[0]: 65 characters, at most 64');
  normalizeTags(['\u{1F600}'.repeat(64)]);
  rejects(() => normalizeTags(['a\u0001']), 'tags[0]: contains a control character');
  rejects(() => normalizeTags(['a\u007F']), 'tags[0]: contains a control character');
  rejects(() => normalizeTags(['a\u0085']), 'tags[0]: contains a control character');
  const sixteen = Array.from({ length: 16 }, (_, i) => `t${i}`);
  assert.equal(normalizeTags([...sixteen, 't0']).length, 16);
  rejects(() => normalizeTags([...sixteen, 't16']), 'tags: 17 tags, at most 16');
});

test('timestamps print as protobuf does: 0, 3 or 6 fractional digits', () => {
  const second = Date.UTC(2026, 11, 7, 22, 30, 5) * 1000;
  assert.equal(timestampJson(second), '2026-12-07T22:30:05Z');
  assert.equal(timestampJson(second + 120000), '2026-12-07T22:30:05.120Z');
  assert.equal(timestampJson(second + 123456), '2026-12-07T22:30:05.123456Z');
  assert.equal(timestampJson(second + 7), '2026-12-07T22:30:05.000007Z');
});

test('a thought has every field, the id as a string', () => {
  const at = Date.UTC(2026, 0, 1) * 1000;
  assert.deepEqual(thoughtJson({ id: 7, text: 't', tags_json: '["a"]', create_micros: at, update_micros: at }), {
    id: '7', text: 't', tags: ['a'], createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z',
  });
});

test('a path id is an int64', () => {
  assert.equal(parseId('42'), 42n);
  assert.equal(parseId('9223372036854775807'), 9223372036854775807n);
  rejects(() => parseId('abc'), "id: 'abc' is not an integer");
  rejects(() => parseId('9223372036854775808'), "id: '9223372036854775808' is not an integer");
  rejects(() => parseId('1.5'), "id: '1.5' is not an integer");
});

test('a client request id is kept only when it is 1-128 safe characters', () => {
  assert.equal(validRequestId('abc-1.2:3_x'), 'abc-1.2:3_x');
  assert.equal(validRequestId(''), null);
  assert.equal(validRequestId('a b'), null);
  assert.equal(validRequestId('x'.repeat(129)), null);
  assert.equal(validRequestId(undefined), null);
});
