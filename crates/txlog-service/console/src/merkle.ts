// RFC 9162 section 2.1: leaf and node hashes, and the root an inclusion proof leads to.

import { concat, sha256 } from './bytes.js';

export async function leafHash(leafData: Uint8Array): Promise<Uint8Array> {
  return sha256(concat(Uint8Array.of(0), leafData));
}

async function nodeHash(left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  return sha256(concat(Uint8Array.of(1), left, right));
}

/**
 * The root hash that `proof` leads to from leaf `index` (hash `leaf`) of the tree of `size`
 * leaves (RFC 9162 section 2.1.3.2); throws when the proof has the wrong length for them.
 */
export async function rootFromInclusionProof(
  index: bigint,
  size: bigint,
  leaf: Uint8Array,
  proof: Uint8Array[],
): Promise<Uint8Array> {
  if (index >= size) throw new Error(`leaf ${index} is outside a tree of ${size}`);
  let fn = index;
  let sn = size - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new Error('the inclusion proof is longer than the tree is deep');
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new Error('the inclusion proof is shorter than the tree is deep');
  return r;
}
