// Unit tests of what the console checks in the browser, run by Node on the built scripts
// (`node --test test/`): RFC 8785 canonical JSON, C2SP verifier keys and signed notes, and RFC
// 9162 inclusion proofs against the tree's recursive definitions (section 2.1).

import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { test } from 'node:test';

import { canonicalize } from '../dist/jcs.js';
import { rootFromInclusionProof } from '../dist/merkle.js';
import { parseVerifierKey, verifyCheckpoint } from '../dist/note.js';

const sha = (...parts) => new Uint8Array(createHash('sha256').update(Buffer.concat(parts)).digest());
const leaf = (i) => sha(Buffer.from([0]), Buffer.from(`leaf ${i}`));
const node = (l, r) => sha(Buffer.from([1]), l, r);

/** MTH(D[lo:hi]) by RFC 9162's recursive definition. */
function root(lo, hi) {
  if (hi - lo === 1) return leaf(lo);
  let k = 1;
  while (k * 2 < hi - lo) k *= 2;
  return node(root(lo, lo + k), root(lo + k, hi));
}

/** PATH(m, D[lo:hi]) by RFC 9162's recursive definition. */
function path(m, lo, hi) {
  if (hi - lo === 1) return [];
  let k = 1;
  while (k * 2 < hi - lo) k *= 2;
  return m < k ? [...path(m, lo, lo + k), root(lo + k, hi)] : [...path(m - k, lo + k, hi), root(lo, lo + k)];
}

test('inclusion proofs lead to the root for every leaf of trees of 1 to 17 leaves', async () => {
  for (let n = 1; n <= 17; n++) {
    for (let m = 0; m < n; m++) {
      const got = await rootFromInclusionProof(BigInt(m), BigInt(n), leaf(m), path(m, 0, n));
      assert.deepEqual(got, root(0, n), `leaf ${m} of ${n}`);
    }
  }
});

test('a changed leaf or a proof of the wrong length does not reach the root', async () => {
  const proof = path(5, 0, 11);
  assert.notDeepEqual(await rootFromInclusionProof(5n, 11n, leaf(6), proof), root(0, 11));
  await assert.rejects(rootFromInclusionProof(5n, 11n, leaf(5), proof.slice(1)), /shorter/);
  await assert.rejects(rootFromInclusionProof(5n, 11n, leaf(5), [...proof, leaf(0)]), /longer/);
  await assert.rejects(rootFromInclusionProof(11n, 11n, leaf(5), proof), /outside/);
});

// RFC 8785 section 3.2.3: U+1F600 sorts before U+FB33 (UTF-16, not code points).
test('canonical JSON sorts members by UTF-16 code units and writes numbers as ECMAScript', () => {
  const value = { b: [1.5, 'é ✓', null, 1e21, 0.000001, -0], a: { z: true, '\u20ac': 1, '\r': 2, '\ud83d\ude00': 3, '\ufb33': 4 } };
  assert.equal(canonicalize(value),
    '{"a":{"\\r":2,"z":true,"\u20ac":1,"\ud83d\ude00":3,"\ufb33":4},"b":[1.5,"é ✓",null,1e+21,0.000001,0]}');
});

function keyPair(name) {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const typed = Buffer.concat([Buffer.from([1]), raw]);
  const id = sha(Buffer.from(name), Buffer.from([0x0a]), typed).subarray(0, 4);
  const text = `${name}+${Buffer.from(id).toString('hex')}+${typed.toString('base64')}`;
  return { text, id, privateKey };
}

function note(pair, name, body) {
  const signature = sign(null, Buffer.from(body), pair.privateKey);
  const line = Buffer.concat([Buffer.from(pair.id), signature]).toString('base64');
  return `${body}\n\u2014 ${name} ${line}\n`;
}

test('verifier keys parse whatever their base64 holds, and a wrong key id is refused', async () => {
  let withPlus = 0;
  for (let i = 0; i < 40; i++) {
    const pair = keyPair('log.example/txlog');
    if (pair.text.split('+').length > 3) withPlus += 1;
    const key = await parseVerifierKey(pair.text);
    assert.equal(key.name, 'log.example/txlog');
  }
  assert.ok(withPlus > 0, 'some keys had a + in their base64');
  const pair = keyPair('log');
  await assert.rejects(parseVerifierKey(pair.text.replace(/\+[0-9a-f]{8}\+/, '+00000000+')), /is not the id of its key/);
  await assert.rejects(parseVerifierKey('log+zz+AAAA'), /key id/);
});

test('a signed checkpoint verifies; a changed one, or one signed by another key, does not', async () => {
  const pair = keyPair('txlog');
  const key = await parseVerifierKey(pair.text);
  const rootHash = Buffer.alloc(32, 7).toString('base64');
  const body = `ordersys/txlog\n11\n${rootHash}\n`;
  const signed = note(pair, 'txlog', body);
  const checkpoint = await verifyCheckpoint(signed, key);
  assert.equal(checkpoint.size, 11n);
  assert.equal(checkpoint.origin, 'ordersys/txlog');
  await assert.rejects(verifyCheckpoint(signed.replace('\n11\n', '\n12\n'), key), /does not verify/);
  const other = await parseVerifierKey(keyPair('txlog').text);
  await assert.rejects(verifyCheckpoint(signed, other), /no signature by the key/);
  await assert.rejects(verifyCheckpoint(body, key), /not a signed note/);
});
