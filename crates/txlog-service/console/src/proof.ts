// The proof that a record is in the signed log, checked here in the browser and nowhere else:
// the checkpoint's Ed25519 signature by the auditor's verifier key, then the RFC 9162 inclusion
// proof from the record's own leaf hash up to the signed root. The server's claims (its
// `leaf_hash`, its verification report) are never taken for the result.

import { getJson, getText, type InclusionProof, type TxRecord } from './api.js';
import { concat, equal, fromHex, sha256, toBase64, toHex, utf8 } from './bytes.js';
import { canonicalize } from './jcs.js';
import { leafHash, rootFromInclusionProof } from './merkle.js';
import { parseVerifierKey, verifyCheckpoint, type Checkpoint } from './note.js';

export interface ProofOutcome {
  verified: boolean;
  /** The record is newer than the latest checkpoint: ask again in a moment. */
  pending: boolean;
  summary: string;
  /** Each check made, in order, with what it found. */
  steps: string[];
}

class Failed extends Error {}

/** The record's `hash` recomputed: SHA-256 of `prev_hash` then the JCS of the rest. */
export async function chainHash(record: TxRecord): Promise<string> {
  const { hash: _ignored, ...rest } = record;
  return toHex(await sha256(concat(utf8(record.prev_hash), utf8(canonicalize(rest)))));
}

/** The latest checkpoint, its signature checked with `keyText`. */
export async function signedCheckpoint(keyText: string): Promise<Checkpoint> {
  const key = await parseVerifierKey(keyText);
  return verifyCheckpoint(await getText('/v1/checkpoint'), key);
}

async function included(record: TxRecord, checkpoint: Checkpoint, steps: string[]) {
  const size = checkpoint.size;
  const proof = await getJson<InclusionProof>(
    `/v1/proofs/inclusion?seq=${record.seq}&tree_size=${size}`);
  if (BigInt(proof.seq) !== BigInt(record.seq) || BigInt(proof.tree_size) !== size) {
    throw new Failed(`the server sent a proof for another leaf or tree (${proof.seq}, ${proof.tree_size})`);
  }
  const hashes = proof.hashes.map((hex, i) => fromHex(hex, 32, `proof hash ${i}`));
  const leaf = await leafHash(utf8(canonicalize(record)));
  steps.push(`Leaf hash of record ${record.seq} computed here: ${toHex(leaf)}.`);
  let root: Uint8Array;
  try {
    root = await rootFromInclusionProof(BigInt(record.seq), size, leaf, hashes);
  } catch (error) {
    throw new Failed(`the inclusion proof is malformed: ${(error as Error).message}`);
  }
  if (!equal(root, checkpoint.root)) {
    if (proof.leaf_hash !== toHex(leaf)) {
      steps.push(`The log's tree holds leaf hash ${proof.leaf_hash} for seq ${record.seq}, not this record's: the record was changed after it was logged.`);
    }
    throw new Failed(`the record is not in the signed tree: its inclusion proof leads to root ${toBase64(root)}, but checkpoint size ${size} signs root ${toBase64(checkpoint.root)}`);
  }
  steps.push(`RFC 9162 inclusion proof (${hashes.length} hashes) leads to the signed root.`);
}

async function run(record: TxRecord, keyText: string, steps: string[]): Promise<ProofOutcome> {
  const recomputed = await chainHash(record);
  if (recomputed !== record.hash) {
    steps.push(`Chain hash recomputed here: ${recomputed}, but the record says ${record.hash}.`);
  } else {
    steps.push('Chain hash recomputed here matches the record\'s hash.');
  }
  let checkpoint: Checkpoint;
  try {
    checkpoint = await signedCheckpoint(keyText);
  } catch (error) {
    throw new Failed(`checkpoint: ${(error as Error).message}`);
  }
  steps.push(`Checkpoint "${checkpoint.origin}" of size ${checkpoint.size}: Ed25519 signature verified.`);
  if (BigInt(record.seq) >= checkpoint.size) {
    const summary = `Not yet in a checkpoint: record ${record.seq} is newer than the latest checkpoint (size ${checkpoint.size}).`;
    return { verified: false, pending: true, summary, steps };
  }
  await included(record, checkpoint, steps);
  if (recomputed !== record.hash) {
    throw new Failed('the record\'s hash does not match its content');
  }
  const summary = `Verified against checkpoint size ${checkpoint.size}.`;
  return { verified: true, pending: false, summary, steps };
}

/** Checks `record` against the latest checkpoint; the outcome says exactly what failed. */
export async function checkRecord(record: TxRecord, keyText: string | null): Promise<ProofOutcome> {
  const steps: string[] = [];
  if (!keyText) {
    return { verified: false, pending: false, steps, summary: 'Not verified: no verifier key. Paste the log\'s verifier key below.' };
  }
  try {
    return await run(record, keyText, steps);
  } catch (error) {
    const summary = `Not verified: ${(error as Error).message}.`;
    return { verified: false, pending: false, summary, steps };
  }
}
