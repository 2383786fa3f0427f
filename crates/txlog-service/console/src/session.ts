// What the console knows while the page is open: its configuration, the auditor's bearer token
// and the verifier key. All in memory: a reload or a closed tab forgets the token.

export interface OidcSettings {
  issuer: string;
  client_id: string;
}

/** `/console/config.json`: public settings from the service. */
export interface ConsoleConfig {
  oidc: OidcSettings | null;
  verifier_key: string | null;
}

export interface Session {
  config: ConsoleConfig;
  token: string | null;
  /** The key checkpoints are checked with: configured, or pasted by the auditor. */
  verifierKey: string | null;
}

export const session: Session = {
  config: { oidc: null, verifier_key: null },
  token: null,
  verifierKey: null,
};

export async function loadConfig(): Promise<ConsoleConfig> {
  const response = await fetch('config.json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`config.json answered ${response.status}`);
  return (await response.json()) as ConsoleConfig;
}

/** The `sub` the token names, for display only (the service checks the token). */
export function subject(token: string): string | null {
  try {
    const payload = token.split('.')[1] ?? '';
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const sub = (JSON.parse(json) as { sub?: unknown }).sub;
    return typeof sub === 'string' ? sub : null;
  } catch {
    return null;
  }
}
