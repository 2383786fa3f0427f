// Calls to the transaction log's API with the auditor's bearer token, and the shapes it answers.

import { session } from './session.js';

export interface Actor {
  sub: string;
  scopes: string[];
}

/** A record as `GET /v1/transactions/{id}` returns it (SPEC section 8). */
export interface TxRecord {
  [field: string]: unknown;
  transaction_id: string;
  seq: number;
  recorded_at: string;
  occurred_at: string;
  operation: string;
  outcome: string;
  actor: Actor | null;
  order_id: string | null;
  request: { method?: string; path?: string; [field: string]: unknown };
  response: { status?: number; [field: string]: unknown };
  duration_us: number;
  prev_hash: string;
  hash: string;
}

export interface RecordPage {
  items: TxRecord[];
  next_cursor: string | null;
}

export interface InclusionProof {
  seq: number;
  tree_size: number;
  leaf_hash: string;
  hashes: string[];
}

export interface VerifyReport {
  valid: boolean;
  checked: number;
  head: { seq: number; hash: string } | null;
  first_invalid_seq: number | null;
  /** false: the walk stopped at its bound; `head` is the last record checked. */
  complete: boolean;
}

/** A refused call, with what the auditor should know. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

async function call(path: string): Promise<Response> {
  const headers: HeadersInit = session.token ? { authorization: `Bearer ${session.token}` } : {};
  const response = await fetch(path, { headers, cache: 'no-store' });
  if (response.ok) return response;
  let detail = '';
  try {
    const problem = (await response.json()) as { detail?: string; title?: string };
    detail = problem.detail ?? problem.title ?? '';
  } catch {
    detail = response.statusText;
  }
  if (response.status === 401) {
    // The next navigation asks for a new sign-in.
    session.token = null;
    throw new ApiError(401, `The service refused the token (${detail}). Sign in again.`);
  }
  if (response.status === 403) {
    throw new ApiError(403, `The token lacks the txlog:read scope the console needs (${detail}).`);
  }
  throw new ApiError(response.status, `${path.split('?')[0]} answered ${response.status}: ${detail}`);
}

export async function getJson<T>(path: string): Promise<T> {
  return (await (await call(path)).json()) as T;
}

export async function getText(path: string): Promise<string> {
  return (await call(path)).text();
}

export function listPath(params: URLSearchParams): string {
  return `/v1/transactions?${params.toString()}`;
}

export function recordPath(transactionId: string): string {
  return `/v1/transactions/${encodeURIComponent(transactionId)}`;
}
