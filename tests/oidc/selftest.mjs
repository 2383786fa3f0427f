#!/usr/bin/env node
// Self-test for the ordersys test OIDC provider: starts server.mjs as a child process, obtains
// client-credentials tokens, checks their header/claims, verifies their RS256 signatures against
// the published JWKS (node:crypto only), rotates the signing key and checks again.
//
//   node tests/oidc/selftest.mjs        exit 0 on success, 1 with a message on failure

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLIENT_ID = 'ordersys-test';
const CLIENT_SECRET = 'test-secret';
const RESOURCE = 'urn:ordersys:order-service';

let passed = 0;
let child;

function fail(message) {
  process.stderr.write(`selftest FAILED: ${message}\n`);
  if (child && child.exitCode === null) child.kill('SIGTERM');
  process.stdout.write(`selftest: ${passed} passed, 1 failed\n`);
  process.exit(1);
}

function check(cond, message) {
  if (!cond) fail(message);
}

function ok(name) {
  passed += 1;
  process.stdout.write(`ok ${passed} - ${name}\n`);
}

function startServer() {
  return new Promise((resolve, reject) => {
    child = spawn(process.execPath, [path.join(here, 'server.mjs')], {
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no READY line within 20 s; stdout=${JSON.stringify(out)} stderr=${JSON.stringify(err)}`)), 20000);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => { err += d; process.stderr.write(`[server stderr] ${d}`); });
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        const line = out.slice(0, nl);
        const m = /^READY (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
        if (!m) reject(new Error(`first stdout line is not "READY <issuer>": ${JSON.stringify(line)}`));
        else resolve({ issuer: m[1], stdout: () => out, stderr: () => err });
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited early (code ${code}, signal ${signal}); stderr=${JSON.stringify(err)}`));
    });
  });
}

async function getJson(url, init) {
  const res = await fetch(url, init);
  const text = await res.text();
  let body;
  try { body = JSON.parse(text); } catch { body = text; }
  return { status: res.status, body };
}

async function getToken(tokenEndpoint, { scope, resource, post = false, clientId = CLIENT_ID, secret = CLIENT_SECRET } = {}) {
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (scope) form.set('scope', scope);
  if (resource) form.set('resource', resource);
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (post) {
    form.set('client_id', clientId);
    form.set('client_secret', secret);
  } else {
    headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
  }
  return getJson(tokenEndpoint, { method: 'POST', headers, body: form });
}

function decode(jwt) {
  const parts = jwt.split('.');
  check(parts.length === 3, `access token is not a JWS compact JWT (${parts.length} parts): ${jwt.slice(0, 40)}...`);
  const json = (p) => JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  return { header: json(parts[0]), payload: json(parts[1]), parts };
}

function verifySignature(jwt, jwks) {
  const { header, parts } = decode(jwt);
  check(header.alg === 'RS256', `unexpected alg ${header.alg}`);
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  if (!jwk) return { ok: false, reason: `kid ${header.kid} not in JWKS [${jwks.keys.map((k) => k.kid).join(', ')}]` };
  check(jwk.kty === 'RSA' && !('d' in jwk), 'JWKS entry must be a public RSA key');
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const valid = crypto.verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), key, Buffer.from(parts[2], 'base64url'));
  return { ok: valid, reason: valid ? '' : 'signature does not verify' };
}

function checkClaims(token, { issuer, aud, scope, sub = CLIENT_ID }) {
  const { header, payload } = decode(token);
  check(header.alg === 'RS256', `header.alg is ${header.alg}, want RS256`);
  check(typeof header.kid === 'string' && header.kid.length > 0, 'header.kid missing');
  check(payload.iss === issuer, `iss ${payload.iss} != ${issuer}`);
  check(payload.aud === aud, `aud ${JSON.stringify(payload.aud)} != ${aud}`);
  check(payload.sub === sub, `sub ${payload.sub} != ${sub}`);
  if (scope !== undefined) check(payload.scope === scope, `scope ${JSON.stringify(payload.scope)} != ${JSON.stringify(scope)}`);
  const now = Math.floor(Date.now() / 1000);
  check(Number.isInteger(payload.iat) && Math.abs(payload.iat - now) < 120, `bad iat ${payload.iat}`);
  check(Number.isInteger(payload.exp) && payload.exp > now, `bad exp ${payload.exp}`);
  check(typeof payload.jti === 'string' && payload.jti.length > 0, 'jti missing');
  return { header, payload };
}

async function main() {
  const server = await startServer();
  const { issuer } = server;
  ok(`server started, READY ${issuer}`);

  // discovery
  const disc = await getJson(`${issuer}/.well-known/openid-configuration`);
  check(disc.status === 200, `discovery status ${disc.status}`);
  check(disc.body.issuer === issuer, `discovery issuer ${disc.body.issuer}`);
  check(disc.body.jwks_uri === `${issuer}/jwks`, `jwks_uri ${disc.body.jwks_uri}`);
  check(disc.body.token_endpoint === `${issuer}/token`, `token_endpoint ${disc.body.token_endpoint}`);
  check(disc.body.grant_types_supported.includes('client_credentials'), 'client_credentials not in grant_types_supported');
  const { jwks_uri: jwksUri, token_endpoint: tokenEndpoint } = disc.body;
  ok('discovery document');

  const jwks1 = (await getJson(jwksUri)).body;
  check(Array.isArray(jwks1.keys) && jwks1.keys.length === 1, `expected 1 key at start, got ${JSON.stringify(jwks1)}`);
  check(jwks1.keys.every((k) => !('d' in k) && !('p' in k)), 'JWKS leaks private key material');

  // token 1: client_secret_basic, explicit resource
  const t1 = await getToken(tokenEndpoint, { scope: 'orders:read orders:write', resource: RESOURCE });
  check(t1.status === 200, `token request failed: ${t1.status} ${JSON.stringify(t1.body)}`);
  check(t1.body.token_type === 'Bearer', `token_type ${t1.body.token_type}`);
  const tok1 = t1.body.access_token;
  const c1 = checkClaims(tok1, { issuer, aud: RESOURCE, scope: 'orders:read orders:write' });
  check(c1.header.kid === jwks1.keys[0].kid, `token kid ${c1.header.kid} is not the published key ${jwks1.keys[0].kid}`);
  const v1 = verifySignature(tok1, jwks1);
  check(v1.ok, `token 1 signature: ${v1.reason}`);
  ok(`token 1 (basic auth, kid=${c1.header.kid}, aud=${c1.payload.aud}, scope="${c1.payload.scope}") verified`);

  // tampered payload must not verify
  const p = decode(tok1).parts;
  const forged = { ...c1.payload, scope: 'orders:admin' };
  const tampered = `${p[0]}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${p[2]}`;
  check(!verifySignature(tampered, jwks1).ok, 'tampered token verified!');
  ok('tampered token is rejected by signature check');

  // client_secret_post, no resource -> default audience, other scopes
  const t2 = await getToken(tokenEndpoint, { scope: 'orders:admin txlog:read txlog:write', post: true });
  check(t2.status === 200, `token request (post) failed: ${t2.status} ${JSON.stringify(t2.body)}`);
  checkClaims(t2.body.access_token, { issuer, aud: RESOURCE, scope: 'orders:admin txlog:read txlog:write' });
  check(verifySignature(t2.body.access_token, jwks1).ok, 'token 2 signature');
  ok('client_secret_post without resource -> default audience urn:ordersys:order-service');

  // another audience and another caller
  const t3 = await getToken(tokenEndpoint, { scope: 'orders:read', resource: 'urn:ordersys:txlog-service', clientId: 'customer-a' });
  check(t3.status === 200, `token request (customer-a) failed: ${t3.status} ${JSON.stringify(t3.body)}`);
  checkClaims(t3.body.access_token, { issuer, aud: 'urn:ordersys:txlog-service', scope: 'orders:read', sub: 'customer-a' });
  ok('customer-a token for urn:ordersys:txlog-service');

  // wrong secret
  const bad = await getToken(tokenEndpoint, { scope: 'orders:read', secret: 'nope' });
  check(bad.status === 401 && bad.body.error === 'invalid_client', `wrong secret: ${bad.status} ${JSON.stringify(bad.body)}`);
  ok('wrong client secret -> 401 invalid_client');

  // rotation (old key kept)
  const rot = await getJson(`${issuer}/test/rotate`, { method: 'POST' });
  check(rot.status === 200, `rotate: ${rot.status} ${JSON.stringify(rot.body)}`);
  check(rot.body.kid !== c1.header.kid, 'rotation returned the old kid');
  const jwks2 = (await getJson(jwksUri)).body;
  const kids2 = jwks2.keys.map((k) => k.kid);
  check(kids2[0] === rot.body.kid && kids2.includes(c1.header.kid) && kids2.length === 2, `JWKS after rotation: ${kids2}`);
  const t4 = await getToken(tokenEndpoint, { scope: 'orders:read', resource: RESOURCE });
  check(t4.status === 200, `token after rotation: ${t4.status} ${JSON.stringify(t4.body)}`);
  const c4 = checkClaims(t4.body.access_token, { issuer, aud: RESOURCE, scope: 'orders:read' });
  check(c4.header.kid === rot.body.kid && c4.header.kid !== c1.header.kid, `token after rotation has kid ${c4.header.kid}, want ${rot.body.kid}`);
  const v4 = verifySignature(t4.body.access_token, jwks2);
  check(v4.ok, `token after rotation: ${v4.reason}`);
  check(verifySignature(tok1, jwks2).ok, 'pre-rotation token no longer verifies against JWKS that keeps the old key');
  const disc2 = await getJson(`${issuer}/.well-known/openid-configuration`);
  check(disc2.body.issuer === issuer, 'issuer changed after rotation');
  ok(`rotation: new kid=${c4.header.kid} signs, JWKS=[${kids2.join(', ')}], old token still verifies`);

  // rotation dropping old keys
  const rot2 = await getJson(`${issuer}/test/rotate?drop=1`, { method: 'POST' });
  check(rot2.status === 200, `rotate?drop=1: ${rot2.status}`);
  const jwks3 = (await getJson(jwksUri)).body;
  check(jwks3.keys.length === 1 && jwks3.keys[0].kid === rot2.body.kid, `JWKS after drop: ${jwks3.keys.map((k) => k.kid)}`);
  check(!verifySignature(tok1, jwks3).ok, 'old token verifies after its key was dropped');
  const t5 = await getToken(tokenEndpoint, { scope: 'orders:write', resource: RESOURCE });
  check(decode(t5.body.access_token).header.kid === rot2.body.kid && verifySignature(t5.body.access_token, jwks3).ok, 'token after rotate?drop=1');
  ok(`rotate?drop=1: JWKS=[${jwks3.keys[0].kid}] only, old kids unknown`);

  // stdout must have carried only the READY line
  check(server.stdout() === `READY ${issuer}\n`, `unexpected stdout from server: ${JSON.stringify(server.stdout())}`);

  // clean shutdown
  const exit = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), 5000);
    child.removeAllListeners('exit');
    child.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal }); });
    child.kill('SIGTERM');
  });
  check(exit !== 'timeout' && exit.code === 0, `server did not exit 0 on SIGTERM: ${JSON.stringify(exit)}`);
  ok('only READY on stdout; SIGTERM -> exit 0');

  process.stdout.write(`selftest: ${passed} passed, 0 failed\n`);
}

main().catch((err) => fail(err?.stack ?? String(err)));
