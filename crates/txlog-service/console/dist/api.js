// Calls to the transaction log's API with the auditor's bearer token, and the shapes it answers.
import { session } from './session.js';
/** A refused call, with what the auditor should know. */
export class ApiError extends Error {
    status;
    constructor(status, message) {
        super(message);
        this.status = status;
    }
}
async function call(path) {
    const headers = session.token ? { authorization: `Bearer ${session.token}` } : {};
    const response = await fetch(path, { headers, cache: 'no-store' });
    if (response.ok)
        return response;
    let detail = '';
    try {
        const problem = (await response.json());
        detail = problem.detail ?? problem.title ?? '';
    }
    catch {
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
export async function getJson(path) {
    return (await (await call(path)).json());
}
export async function getText(path) {
    return (await call(path)).text();
}
export function listPath(params) {
    return `/v1/transactions?${params.toString()}`;
}
export function recordPath(transactionId) {
    return `/v1/transactions/${encodeURIComponent(transactionId)}`;
}
