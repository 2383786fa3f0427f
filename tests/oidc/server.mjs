#!/usr/bin/env node
// Local OpenID Connect provider for ordersys tests (oidc-provider): client-credentials tokens for
// services, and the authorization-code flow with PKCE for the auditor console (a public client).
//
//   node tests/oidc/server.mjs [PORT]        (or PORT=... env; 0 / unset = pick a free port)
//
// Prints exactly one line to stdout once listening:  READY http://127.0.0.1:<port>
// Everything else (only errors, or all provider notices with OIDC_DEBUG=1) goes to stderr.
// See README.md in this directory.

import crypto from 'node:crypto';
import http from 'node:http';

const DEBUG = !!process.env.OIDC_DEBUG;
const HOST = '127.0.0.1';

// --- quiet logs -------------------------------------------------------------------------------
// oidc-provider prints development notices through console.info (stdout!) / console.warn at
// import and construction time. stdout is reserved for the READY line, so route every console
// method to stderr, and drop the provider's own NOTICE/WARNING lines unless OIDC_DEBUG is set.
// (This must happen before oidc-provider is imported, hence the dynamic import below.)
for (const method of ['log', 'info', 'warn', 'error', 'debug']) {
  console[method] = (...args) => {
    const text = args.map((a) => (typeof a === 'string' ? a : (a instanceof Error ? a.stack : JSON.stringify(a)))).join(' ');
    // eslint-disable-next-line no-control-regex
    if (!DEBUG && /^(\x1b\[[0-9;]*m)?oidc-provider (NOTICE|WARNING)/.test(text)) return;
    process.stderr.write(`${text}\n`);
  };
}
// Node process warnings (deprecations etc.) are shown only with OIDC_DEBUG.
if (!DEBUG) process.removeAllListeners('warning');

let Provider;
try {
  ({ default: Provider } = await import('oidc-provider'));
} catch (err) {
  process.stderr.write(`cannot load oidc-provider (${err?.code ?? err}); run: npm ci --prefix tests/oidc\n`);
  process.exit(1);
}

// --- configuration ----------------------------------------------------------------------------
export const CLIENT_ID = 'ordersys-test';
export const CLIENT_SECRET = 'test-secret';
// Extra clients (same secret, same scopes) so tests can act as different callers (`sub`).
const EXTRA_CLIENT_IDS = ['customer-a', 'customer-b'];
export const SCOPES = ['orders:read', 'orders:write', 'orders:admin', 'txlog:read', 'txlog:write'];
export const DEFAULT_RESOURCE = 'urn:ordersys:order-service';
// The auditor console: a public (native) client, authorization code with PKCE, redirected back to
// the console on any 127.0.0.1 port (RFC 8252 section 7.3); its tokens are for the transaction log.
export const CONSOLE_CLIENT_ID = 'ordersys-console';
const CONSOLE_RESOURCE = 'urn:ordersys:txlog-service';
const CONSOLE_REDIRECT_URI = 'http://127.0.0.1/console/';
const TOKEN_TTL = Number.parseInt(process.env.OIDC_TOKEN_TTL || '600', 10); // seconds

function parsePort() {
  const raw = process.argv[2] ?? process.env.PORT ?? '0';
  const port = Number.parseInt(raw, 10);
  if (!Number.isInteger(port) || port < 0 || port > 65535 || String(port) !== String(raw).trim()) {
    process.stderr.write(`invalid port: ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  return port;
}

// --- keys -------------------------------------------------------------------------------------
let keySeq = 0;
function newSigningKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  keySeq += 1;
  const kid = `test-key-${keySeq}-${crypto.randomBytes(4).toString('hex')}`;
  return { ...jwk, kid, use: 'sig', alg: 'RS256' };
}

// keys[0] signs new tokens; all keys are published in the JWKS.
let keys = [newSigningKey()];

function buildProvider(issuer, keySet) {
  const clients = [CLIENT_ID, ...EXTRA_CLIENT_IDS].map((clientId) => ({
    client_id: clientId,
    client_secret: CLIENT_SECRET,
    // client_secret_basic registered; oidc-provider accepts client_secret_post for it too.
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope: SCOPES.join(' '),
  }));
  clients.push({
    client_id: CONSOLE_CLIENT_ID,
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [CONSOLE_REDIRECT_URI],
    scope: 'openid txlog:read',
  });

  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: keySet.map((k) => ({ ...k })) },
    scopes: ['openid', ...SCOPES],
    clientDefaults: {
      id_token_signed_response_alg: 'RS256',
    },
    enabledJWA: {
      // only RS256 is offered for signing by this test issuer
      idTokenSigningAlgValues: ['RS256'],
    },
    features: {
      // The built-in login (any name and password) and consent pages, for the console's sign-in.
      devInteractions: { enabled: true },
      revocation: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // a request without `resource` is treated as one for the order service -> JWT anyway
        defaultResource: async (_ctx, client, oneOf) =>
          oneOf ?? (client?.clientId === CONSOLE_CLIENT_ID ? CONSOLE_RESOURCE : DEFAULT_RESOURCE),
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resourceIndicator) => ({
          scope: SCOPES.join(' '),
          audience: resourceIndicator,
          accessTokenTTL: TOKEN_TTL,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    ttl: {
      ClientCredentials: TOKEN_TTL,
    },
    // The console (on any loopback port) calls discovery and the token endpoint from the browser.
    clientBasedCORS: (_ctx, origin, client) =>
      client.clientId === CONSOLE_CLIENT_ID && /^http:\/\/127\.0\.0\.1:\d+$/.test(origin),
    // never fetch anything from the network (no remote client jwks / request objects in use)
    fetch: () => { throw new Error('network access disabled in the ordersys test OIDC provider'); },
  });

  // Koa would print expected client errors; keep only real server errors on stderr.
  provider.silent = true;
  provider.on('server_error', (_ctx, err) => process.stderr.write(`oidc server_error: ${err?.stack ?? err}\n`));
  if (DEBUG) {
    provider.on('grant.error', (_ctx, err) => process.stderr.write(`oidc grant.error: ${err?.message} ${err?.error_description ?? ''}\n`));
  }
  return provider;
}

// --- HTTP server: stable listener, swappable provider handler ----------------------------------
let handler = null; // current provider.callback()
let issuer = null;

function sendJson(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

function rotate(url) {
  const drop = ['1', 'true', 'yes'].includes((url.searchParams.get('drop') ?? '').toLowerCase());
  const fresh = newSigningKey();
  const next = drop ? [fresh] : [fresh, ...keys];
  // build first: if that throws, the old provider and keys stay in place
  const nextHandler = buildProvider(issuer, next).callback();
  keys = next;
  handler = nextHandler;
  return { kid: fresh.kid, kids: keys.map((k) => k.kid), dropped_old: drop };
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname === '/test/rotate') {
    if (req.method !== 'POST') {
      sendJson(res, 405, { error: 'method_not_allowed' });
      return;
    }
    req.resume();
    req.on('end', () => {
      try {
        sendJson(res, 200, rotate(url));
      } catch (err) {
        process.stderr.write(`rotation failed: ${err?.stack ?? err}\n`);
        sendJson(res, 500, { error: 'rotation_failed', message: String(err?.message ?? err) });
      }
    });
    return;
  }
  if (url.pathname === '/test/keys' && req.method === 'GET') {
    sendJson(res, 200, { signing_kid: keys[0].kid, kids: keys.map((k) => k.kid) });
    return;
  }
  if (!handler) {
    sendJson(res, 503, { error: 'starting' });
    return;
  }
  handler(req, res);
});
server.keepAliveTimeout = 5000;

server.on('error', (err) => {
  process.stderr.write(`oidc test server error: ${err?.stack ?? err}\n`);
  process.exit(1);
});

server.listen(parsePort(), HOST, () => {
  const { port } = server.address();
  issuer = `http://${HOST}:${port}`;
  try {
    handler = buildProvider(issuer, keys).callback();
  } catch (err) {
    process.stderr.write(`failed to configure provider: ${err?.stack ?? err}\n`);
    process.exit(1);
  }
  process.stdout.write(`READY ${issuer}\n`);
});

// --- clean shutdown ---------------------------------------------------------------------------
let stopping = false;
function shutdown() {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// if the parent test process dies and closes our stdin pipe, don't linger (only when piped)
if (process.env.OIDC_EXIT_ON_STDIN_EOF) {
  process.stdin.on('end', shutdown);
  process.stdin.resume();
}
