// The console's entry point: configuration, sign-in, then one view per route (`#/…`).

import { finishSignIn } from './auth.js';
import { errorBox, h, replace } from './dom.js';
import { loadConfig, session, subject } from './session.js';
import { renderActivity } from './views/activity.js';
import { renderRecord } from './views/record.js';
import { renderRecords } from './views/records.js';
import { renderSignIn } from './views/signin.js';
import { renderStory } from './views/story.js';

const view = document.getElementById('view') as HTMLElement;
const account = document.getElementById('account') as HTMLElement;

function showAccount(): void {
  if (!session.token) {
    replace(account);
    return;
  }
  const signOut = h('button', { type: 'button', class: 'link' }, 'Sign out');
  signOut.addEventListener('click', () => {
    session.token = null;
    void route();
  });
  replace(account, `Signed in as ${subject(session.token) ?? 'token holder'} `, signOut);
}

async function show(path: string, params: URLSearchParams): Promise<void> {
  const [, page, id] = path.split('/');
  if (page === 'record' && id) return renderRecord(view, decodeURIComponent(id));
  if (page === 'order' && id) return renderStory(view, decodeURIComponent(id));
  if (page === 'activity') return renderActivity(view, params);
  return renderRecords(view, params);
}

async function route(failure?: unknown): Promise<void> {
  showAccount();
  if (!session.token) {
    renderSignIn(view, () => void route(), failure);
    return;
  }
  const [path = '', query = ''] = location.hash.replace(/^#/, '').split('?');
  try {
    await show(path, new URLSearchParams(query));
  } catch (error) {
    view.append(errorBox(error));
  }
  showAccount();
  document.getElementById('view-title')?.focus();
}

async function boot(): Promise<void> {
  window.addEventListener('hashchange', () => void route());
  try {
    session.config = await loadConfig();
    session.verifierKey = session.config.verifier_key;
    if (session.config.oidc) {
      const signedIn = await finishSignIn(session.config.oidc);
      if (signedIn) session.token = signedIn.token;
    }
  } catch (error) {
    await route(error);
    return;
  }
  await route();
}

void boot();
