// What the console knows while the page is open: its configuration, the auditor's bearer token
// and the verifier key. All in memory: a reload or a closed tab forgets the token.
export const session = {
    config: { oidc: null, verifier_key: null },
    token: null,
    verifierKey: null,
};
export async function loadConfig() {
    const response = await fetch('config.json', { cache: 'no-store' });
    if (!response.ok)
        throw new Error(`config.json answered ${response.status}`);
    return (await response.json());
}
/**
 * Who the token names, for display only (the service checks the token): `preferred_username` (a
 * login name; Keycloak's `sub` is a UUID), else `sub`. The transaction log records
 * `submitted_by` by the same rule.
 */
export function subject(token) {
    try {
        const payload = token.split('.')[1] ?? '';
        const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
        const claims = JSON.parse(json);
        for (const claim of ['preferred_username', 'sub']) {
            const value = claims[claim];
            if (typeof value === 'string' && value !== '')
                return value;
        }
        return null;
    }
    catch {
        return null;
    }
}
