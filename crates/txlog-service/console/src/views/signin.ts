// Sign-in: at the identity provider (when the service names an OIDC client), or by pasting a
// bearer token with the txlog:read scope. Either way the token stays in this page's memory.

import { startSignIn } from '../auth.js';
import { errorBox, h, heading, replace } from '../dom.js';
import { session } from '../session.js';

function oidcButton(view: HTMLElement): HTMLElement {
  const oidc = session.config.oidc;
  if (!oidc) return h('p', {}, 'No identity provider is configured for the console: paste a token.');
  const button = h('button', { type: 'button', id: 'sign-in' }, 'Sign in');
  button.addEventListener('click', () => {
    button.disabled = true;
    startSignIn(oidc, location.hash).catch((error) => {
      button.disabled = false;
      view.append(errorBox(error));
    });
  });
  return h('p', {}, button, ` at ${oidc.issuer}`);
}

function tokenForm(onToken: () => void): HTMLElement {
  const input = h('textarea', { name: 'token', rows: 3, spellcheck: false, autocomplete: 'off', required: true });
  const form = h('form', { class: 'token-form' },
    h('label', {}, h('span', {}, 'Bearer token (txlog:read)'), input),
    h('button', { type: 'submit' }, 'Use this token'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    session.token = input.value.trim().replace(/^Bearer\s+/i, '') || null;
    onToken();
  });
  return form;
}

export function renderSignIn(view: HTMLElement, onToken: () => void, failure?: unknown): void {
  const token = session.config.oidc
    ? h('details', {}, h('summary', {}, 'Or paste a bearer token'), tokenForm(onToken))
    : tokenForm(onToken);
  replace(view, heading('Sign in'),
    failure ? errorBox(failure) : null,
    h('p', {}, 'The console reads the transaction log with your token (scope txlog:read) and checks the log\'s proofs in this browser.'),
    oidcButton(view), token);
}
