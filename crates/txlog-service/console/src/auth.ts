// Sign-in by OpenID Connect: the authorization-code flow with PKCE (RFC 7636, S256) for a public
// client, endpoints from the issuer's discovery document.
//
// The access token is kept in memory only. For the redirect round trip alone, the PKCE verifier,
// the `state` and the view to return to wait in sessionStorage (this tab only) and are removed
// as soon as the identity provider sends the browser back.

import { randomBytes, sha256, toBase64Url, utf8 } from './bytes.js';
import type { OidcSettings } from './session.js';

const PENDING = 'txlog-console-sign-in';
const SCOPE = 'openid txlog:read';

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
}

interface Pending {
  state: string;
  verifier: string;
  returnTo: string;
}

async function discover(oidc: OidcSettings): Promise<Discovery> {
  const url = `${oidc.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  const response = await fetch(url, { cache: 'no-store' });
  if (!response.ok) throw new Error(`the identity provider's discovery answered ${response.status}`);
  const discovery = (await response.json()) as Discovery;
  if (discovery.issuer.replace(/\/$/, '') !== oidc.issuer.replace(/\/$/, '')) {
    throw new Error(`the discovery document names another issuer: ${discovery.issuer}`);
  }
  return discovery;
}

function redirectUri(): string {
  return `${location.origin}/console/`;
}

/** Sends the browser to the identity provider; it comes back to `/console/?code=…`. */
export async function startSignIn(oidc: OidcSettings, returnTo: string): Promise<void> {
  const discovery = await discover(oidc);
  const pending: Pending = {
    state: toBase64Url(randomBytes(16)),
    verifier: toBase64Url(randomBytes(32)),
    returnTo,
  };
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  const url = new URL(discovery.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: oidc.client_id,
    redirect_uri: redirectUri(),
    scope: SCOPE,
    state: pending.state,
    code_challenge: toBase64Url(await sha256(utf8(pending.verifier))),
    code_challenge_method: 'S256',
  }).toString();
  location.assign(url.toString());
}

function takePending(): Pending | null {
  const text = sessionStorage.getItem(PENDING);
  sessionStorage.removeItem(PENDING);
  return text ? (JSON.parse(text) as Pending) : null;
}

/**
 * When the identity provider just sent the browser back: the access token and the view to
 * return to; `null` on an ordinary visit. Throws saying why a sign-in failed.
 */
export async function finishSignIn(
  oidc: OidcSettings,
): Promise<{ token: string; returnTo: string } | null> {
  const params = new URLSearchParams(location.search);
  if (!params.has('code') && !params.has('error')) return null;
  const pending = takePending();
  history.replaceState(null, '', `${location.pathname}${pending?.returnTo ?? ''}`);
  if (params.has('error')) {
    throw new Error(`The identity provider refused the sign-in: ${params.get('error')} ${params.get('error_description') ?? ''}`);
  }
  if (!pending || params.get('state') !== pending.state) {
    throw new Error('The sign-in answer does not belong to a sign-in started here (state mismatch).');
  }
  const discovery = await discover(oidc);
  const response = await fetch(discovery.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: params.get('code') ?? '',
      redirect_uri: redirectUri(),
      client_id: oidc.client_id,
      code_verifier: pending.verifier,
    }),
  });
  const body = (await response.json()) as { access_token?: string; error?: string };
  if (!response.ok || !body.access_token) {
    throw new Error(`The token endpoint refused the code: ${body.error ?? response.status}`);
  }
  return { token: body.access_token, returnTo: pending.returnTo };
}
