// The records table: newest first, every filter of GET /v1/transactions, cursor paging. The
// filters live in the route (`#/records?order_id=…`), so a view can be bookmarked or shared.
import { getJson, listPath } from '../api.js';
import { errorBox, h, heading, link, outcomeBadge, replace } from '../dom.js';
const FILTERS = ['order_id', 'actor', 'operation', 'outcome', 'from', 'to'];
const OPERATIONS = ['order.create', 'order.get', 'order.list', 'order.update', 'order.delete', 'request'];
const OUTCOMES = ['success', 'denied', 'client_error', 'server_error'];
const PAGE_SIZE = '25';
/** `datetime-local` input value ↔ RFC 3339 instant (the browser's time zone). */
function toInstant(local) {
    return new Date(local).toISOString();
}
function toLocal(instant) {
    if (!instant)
        return '';
    const t = new Date(instant);
    if (Number.isNaN(t.getTime()))
        return '';
    const shifted = new Date(t.getTime() - t.getTimezoneOffset() * 60_000);
    return shifted.toISOString().slice(0, 19);
}
function field(label, input) {
    return h('label', {}, h('span', {}, label), input);
}
function choice(name, options, value) {
    const select = h('select', { name }, h('option', { value: '' }, 'any'));
    for (const option of options) {
        select.append(h('option', { value: option, selected: option === value }, option));
    }
    return select;
}
function filterForm(params) {
    const text = (name) => h('input', { name, value: params.get(name) ?? '', autocomplete: 'off' });
    const time = (name) => h('input', { name, type: 'datetime-local', step: 1, value: toLocal(params.get(name)) });
    const form = h('form', { class: 'filters', role: 'search' }, field('Order id', text('order_id')), field('Actor (sub)', text('actor')), field('Operation', choice('operation', OPERATIONS, params.get('operation'))), field('Outcome', choice('outcome', OUTCOMES, params.get('outcome'))), field('From', time('from')), field('To', time('to')), h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Search'), link('/records', 'Clear')));
    form.addEventListener('submit', (event) => {
        event.preventDefault();
        const data = new FormData(form);
        const next = new URLSearchParams();
        for (const name of FILTERS) {
            const value = String(data.get(name) ?? '').trim();
            if (value)
                next.set(name, name === 'from' || name === 'to' ? toInstant(value) : value);
        }
        location.hash = `/records?${next.toString()}`;
    });
    return form;
}
function row(record) {
    const status = record.response?.status;
    return h('tr', {}, h('td', {}, link(`/record/${record.transaction_id}`, String(record.seq))), h('td', {}, h('time', { datetime: record.recorded_at }, record.recorded_at)), h('td', {}, record.operation), h('td', {}, outcomeBadge(record.outcome)), h('td', {}, typeof status === 'number' ? String(status) : ''), h('td', {}, record.actor?.sub ?? 'anonymous'), h('td', {}, record.order_id ? link(`/order/${encodeURIComponent(record.order_id)}`, record.order_id) : ''));
}
export function recordsTable(items) {
    const head = ['Seq', 'Recorded at', 'Operation', 'Outcome', 'Status', 'Actor', 'Order'];
    return h('div', { class: 'table-wrap', tabindex: 0, 'aria-label': 'Records' }, h('table', { id: 'records' }, h('thead', {}, h('tr', {}, ...head.map((title) => h('th', { scope: 'col' }, title)))), h('tbody', {}, ...items.map(row))));
}
function pager(params, next) {
    const nav = h('nav', { class: 'pager', 'aria-label': 'Pages' });
    if (params.has('cursor')) {
        const first = new URLSearchParams(params);
        first.delete('cursor');
        nav.append(link(`/records?${first.toString()}`, '« Newest'));
    }
    if (next) {
        const older = new URLSearchParams(params);
        older.set('cursor', next);
        nav.append(link(`/records?${older.toString()}`, 'Older »'));
    }
    return nav;
}
export async function renderRecords(view, params) {
    const results = h('div', { 'aria-live': 'polite' }, h('p', {}, 'Loading…'));
    replace(view, heading('Records'), filterForm(params), results);
    const query = new URLSearchParams();
    for (const name of [...FILTERS, 'cursor']) {
        const value = params.get(name);
        if (value)
            query.set(name, value);
    }
    query.set('limit', PAGE_SIZE);
    try {
        const page = await getJson(listPath(query));
        const empty = page.items.length === 0 ? h('p', {}, 'No records match.') : null;
        replace(results, empty || recordsTable(page.items), pager(params, page.next_cursor));
    }
    catch (error) {
        replace(results, errorBox(error));
    }
}
