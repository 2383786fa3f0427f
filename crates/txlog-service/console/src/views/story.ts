// An order's story: every record of one order_id, oldest first, as a timeline of who did what,
// with which outcome, when.

import { getJson, listPath, type RecordPage, type TxRecord } from '../api.js';
import { errorBox, h, heading, link, outcomeBadge, replace } from '../dom.js';

/** At most this many pages of 500 (an order has a handful of records; a runaway has many). */
const MAX_PAGES = 20;

async function allOf(orderId: string): Promise<{ items: TxRecord[]; complete: boolean }> {
  const items: TxRecord[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    const params = new URLSearchParams({ order_id: orderId, order: 'asc', limit: '500' });
    if (cursor) params.set('cursor', cursor);
    const answer: RecordPage = await getJson<RecordPage>(listPath(params));
    items.push(...answer.items);
    cursor = answer.next_cursor;
    if (!cursor) return { items, complete: true };
  }
  return { items, complete: false };
}

function entry(record: TxRecord): HTMLLIElement {
  const who = record.actor ? record.actor.sub : 'anonymous';
  return h('li', { class: `event outcome-${record.outcome}` },
    h('time', { datetime: record.occurred_at }, record.occurred_at),
    h('p', {},
      h('strong', {}, who), ` ${record.operation} `, outcomeBadge(record.outcome),
      ` ${record.request.method ?? ''} ${record.request.path ?? ''} → ${record.response.status ?? ''}`),
    link(`/record/${record.transaction_id}`, `record ${record.seq}`));
}

export async function renderStory(view: HTMLElement, orderId: string): Promise<void> {
  const body = h('div', { 'aria-live': 'polite' }, h('p', {}, 'Loading…'));
  replace(view, heading(`Order ${orderId}`),
    h('p', {}, link(`/records?${new URLSearchParams({ order_id: orderId })}`, 'These records as a table')),
    body);
  try {
    const { items, complete } = await allOf(orderId);
    if (items.length === 0) {
      replace(body, h('p', {}, 'No records for this order.'));
      return;
    }
    replace(body,
      h('p', {}, `${items.length} records${complete ? '' : ' (the first ones; the order has more)'}.`),
      h('ol', { class: 'timeline' }, ...items.map(entry)));
  } catch (error) {
    replace(body, errorBox(error));
  }
}
