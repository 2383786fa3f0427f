// One record: its fields, request and response, the records before and after it in the hash
// chain, and the proof that it is in the signed log, checked in this browser.
import { getJson, listPath, recordPath } from '../api.js';
import { errorBox, h, heading, link, outcomeBadge, pre, replace } from '../dom.js';
import { checkRecord } from '../proof.js';
import { session } from '../session.js';
/** The record next to `seq` in the chain (`desc`: before it, `asc`: after it), if any. */
async function neighbour(seq, order) {
    // The console ships with the service, so it may lean on the cursor's form (the last seq).
    const cursor = btoa(String(seq)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
    const page = await getJson(listPath(new URLSearchParams({ order, limit: '1', cursor })));
    return page.items[0] ?? null;
}
function fields(record) {
    const rows = [
        ['Transaction id', record.transaction_id],
        ['Seq', String(record.seq)],
        ['Recorded at', record.recorded_at],
        ['Occurred at', record.occurred_at],
        ['Operation', record.operation],
        ['Outcome', outcomeBadge(record.outcome)],
        ['Actor', record.actor ? `${record.actor.sub} (${record.actor.scopes.join(' ')})` : 'anonymous'],
        ['Order', record.order_id ? link(`/order/${encodeURIComponent(record.order_id)}`, record.order_id) : 'none'],
        ['Request', `${record.request.method ?? ''} ${record.request.path ?? ''}`],
        ['Status', String(record.response.status ?? '')],
        ['Duration', `${record.duration_us} µs`],
        ['Submitted by', String(record['submitted_by'] ?? 'not recorded')],
        ['Trace id', String(record['trace_id'] ?? '')],
    ];
    return h('dl', { class: 'fields' }, ...rows.flatMap(([name, value]) => [h('dt', {}, name), h('dd', {}, value)]));
}
async function chainLinks(record, box) {
    const [before, after] = await Promise.all([
        neighbour(record.seq, 'desc'), neighbour(record.seq, 'asc')
    ]);
    const linksUp = (ok) => (ok ? ' ✓ links up' : ' ✗ does not link up');
    replace(box, h('dt', {}, 'Previous hash'), h('dd', { class: 'hash' }, before ? link(`/record/${before.transaction_id}`, record.prev_hash) : record.prev_hash, before ? linksUp(before.hash === record.prev_hash) : ' (first record)'), h('dt', {}, 'Hash'), h('dd', { class: 'hash' }, record.hash), h('dt', {}, 'Next record'), h('dd', { class: 'hash' }, after ? link(`/record/${after.transaction_id}`, after.hash) : 'none yet', after ? linksUp(after.prev_hash === record.hash) : ''));
}
function keyForm(onChange) {
    const input = h('input', { name: 'verifier_key', value: session.verifierKey ?? '', spellcheck: false, autocomplete: 'off' });
    const form = h('form', { class: 'key-form' }, h('label', {}, h('span', {}, 'Verifier key'), input), h('button', { type: 'submit' }, 'Use this key'));
    form.addEventListener('submit', (event) => {
        event.preventDefault();
        session.verifierKey = input.value.trim() || null;
        onChange();
    });
    return form;
}
async function proofPanel(record, panel, attempt = 0) {
    const status = h('p', { id: 'proof-status', class: 'pending', role: 'status' }, 'Checking the proof in this browser…');
    const steps = h('ol', { class: 'steps' });
    replace(panel, h('h2', { id: 'proof-title' }, 'Proof'), status, steps, keyForm(() => void proofPanel(record, panel)));
    const outcome = await checkRecord(record, session.verifierKey);
    status.textContent = outcome.summary;
    status.className = outcome.verified ? 'verified' : outcome.pending ? 'pending' : 'failed';
    steps.replaceChildren(...outcome.steps.map((step) => h('li', {}, step)));
    if (outcome.pending && attempt < 10) {
        setTimeout(() => void proofPanel(record, panel, attempt + 1), 1000);
    }
}
export async function renderRecord(view, id) {
    replace(view, heading(`Record ${id}`), h('p', {}, 'Loading…'));
    let record;
    try {
        record = await getJson(recordPath(id));
    }
    catch (error) {
        replace(view, heading('Record'), errorBox(error));
        return;
    }
    const chain = h('dl', { class: 'fields chain' });
    const panel = h('section', { class: 'proof', 'aria-labelledby': 'proof-title' });
    replace(view, heading(`Record ${record.seq}`), h('section', { class: 'proof-first' }, panel), fields(record), h('h2', {}, 'Hash chain'), chain, h('h2', {}, 'Request'), pre(record.request), h('h2', {}, 'Response'), pre(record.response));
    await Promise.all([
        proofPanel(record, panel),
        chainLinks(record, chain).catch((error) => replace(chain, errorBox(error))),
    ]);
}
