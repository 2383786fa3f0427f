// C2SP signed notes and tlog checkpoints (SPEC section 10), checked with WebCrypto's Ed25519.

import { concat, equal, fromBase64, fromHex, sha256, toHex, utf8 } from './bytes.js';

/** A parsed verifier key `<name>+<8 hex key id>+<base64(0x01 ‖ public key)>`. */
export interface VerifierKey {
  text: string;
  name: string;
  keyId: Uint8Array;
  publicKey: Uint8Array;
}

/** What a checkpoint states, once its signature verified. */
export interface Checkpoint {
  origin: string;
  size: bigint;
  root: Uint8Array;
}

const ED25519 = 0x01;

export async function parseVerifierKey(text: string): Promise<VerifierKey> {
  // The name and the key id end at the first two '+'; the base64 key may hold '+' itself.
  const match = /^([^+\s]+)\+([^+]*)\+(\S+)$/.exec(text.trim());
  if (!match) {
    throw new Error('the verifier key is not <name>+<key id>+<base64 key>');
  }
  const [, name, idHex, keyBase64] = match as unknown as [string, string, string, string];
  const keyId = fromHex(idHex, 4, 'the verifier key id');
  const typed = fromBase64(keyBase64, 'the verifier key');
  if (typed.length !== 33 || typed[0] !== ED25519) {
    throw new Error('the verifier key is not an Ed25519 key (0x01 and 32 bytes)');
  }
  const expected = (await sha256(concat(utf8(name), Uint8Array.of(0x0a), typed))).slice(0, 4);
  if (!equal(expected, keyId)) {
    throw new Error(`the verifier key's id ${idHex} is not the id of its key (${toHex(expected)})`);
  }
  return { text: text.trim(), name, keyId, publicKey: typed.slice(1) };
}

/** The note's text and its signatures by `key` (each 64 bytes). */
function split(note: string, key: VerifierKey): { text: string; signatures: Uint8Array[] } {
  const blank = note.lastIndexOf('\n\n');
  if (blank < 0 || !note.endsWith('\n')) {
    throw new Error('the checkpoint is not a signed note (no blank line before signatures)');
  }
  const text = note.slice(0, blank + 1);
  const signatures: Uint8Array[] = [];
  for (const line of note.slice(blank + 2, -1).split('\n')) {
    const match = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!match) throw new Error(`the checkpoint has a malformed signature line: ${line}`);
    if (match[1] !== key.name) continue;
    const bytes = fromBase64(match[2] ?? '', 'a signature');
    if (bytes.length === 68 && equal(bytes.slice(0, 4), key.keyId)) {
      signatures.push(bytes.slice(4));
    }
  }
  return { text, signatures };
}

async function ed25519Verify(key: VerifierKey, signature: Uint8Array, message: Uint8Array) {
  let publicKey: CryptoKey;
  try {
    publicKey = await crypto.subtle.importKey(
      'raw', key.publicKey as BufferSource, { name: 'Ed25519' }, false, ['verify']);
  } catch (error) {
    throw new Error(`this browser cannot check Ed25519 signatures (WebCrypto: ${error})`);
  }
  return crypto.subtle.verify(
    { name: 'Ed25519' }, publicKey, signature as BufferSource, message as BufferSource);
}

function parseCheckpoint(text: string): Checkpoint {
  const [origin, size, root] = text.split('\n');
  if (!origin || !size || !/^(0|[1-9][0-9]*)$/.test(size) || !root) {
    throw new Error('the signed note is not a checkpoint (origin, tree size, root hash)');
  }
  const rootHash = fromBase64(root, 'the checkpoint root hash');
  if (rootHash.length !== 32) throw new Error('the checkpoint root hash is not 32 bytes');
  return { origin, size: BigInt(size), root: rootHash };
}

/** The checkpoint `note` states, when `key` signed it; throws saying what failed. */
export async function verifyCheckpoint(note: string, key: VerifierKey): Promise<Checkpoint> {
  const { text, signatures } = split(note, key);
  if (signatures.length === 0) {
    throw new Error(`the checkpoint carries no signature by the key ${key.name}+${toHex(key.keyId)}`);
  }
  for (const signature of signatures) {
    if (await ed25519Verify(key, signature, utf8(text))) return parseCheckpoint(text);
  }
  throw new Error(
    `the checkpoint's Ed25519 signature by ${key.name} does not verify: its text or signature was changed`);
}
