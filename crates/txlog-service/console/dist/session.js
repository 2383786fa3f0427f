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
/** The `sub` the token names, for display only (the service checks the token). */
export function subject(token) {
    try {
        const payload = token.split('.')[1] ?? '';
        const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
        const sub = JSON.parse(json).sub;
        return typeof sub === 'string' ? sub : null;
    }
    catch {
        return null;
    }
}
