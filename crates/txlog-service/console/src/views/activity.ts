// Activity: calls per minute by outcome over a chosen window, and the state of the chain (the
// service's own walk) and of the latest checkpoint (its signature checked here).

import { getJson, listPath, type RecordPage, type TxRecord, type VerifyReport } from '../api.js';
import { barChart, type Series } from '../chart.js';
import { errorBox, h, heading, outcomeBadge, replace } from '../dom.js';
import { signedCheckpoint } from '../proof.js';
import { session } from '../session.js';

const WINDOWS: [string, number][] = [['15 minutes', 15], ['1 hour', 60], ['6 hours', 360], ['24 hours', 1440]];
const OUTCOMES = ['success', 'denied', 'client_error', 'server_error'];
const MAX_PAGES = 20;
const MINUTE = 60_000;

async function recordsSince(from: Date): Promise<{ items: TxRecord[]; complete: boolean }> {
  const items: TxRecord[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    const params = new URLSearchParams({ from: from.toISOString(), limit: '500' });
    if (cursor) params.set('cursor', cursor);
    const answer: RecordPage = await getJson<RecordPage>(listPath(params));
    items.push(...answer.items);
    cursor = answer.next_cursor;
    if (!cursor) return { items, complete: true };
  }
  return { items, complete: false };
}

export function perMinute(items: TxRecord[], start: number, minutes: number): Series {
  const first = Math.floor(start / MINUTE) * MINUTE;
  const series: Series = {
    minutes: Array.from({ length: minutes + 1 }, (_, i) => first + i * MINUTE),
    counts: new Map(OUTCOMES.map((outcome) => [outcome, new Array<number>(minutes + 1).fill(0)])),
  };
  for (const record of items) {
    const bucket = Math.floor((Date.parse(record.recorded_at) - first) / MINUTE);
    const counts = series.counts.get(record.outcome);
    if (counts && bucket >= 0 && bucket <= minutes) counts[bucket] = (counts[bucket] ?? 0) + 1;
  }
  return series;
}

function windowPicker(current: number): HTMLElement {
  return h('nav', { class: 'windows', 'aria-label': 'Window' }, ...WINDOWS.map(([name, minutes]) =>
    h('a', { href: `#/activity?minutes=${minutes}`, 'aria-current': minutes === current ? 'true' : undefined }, name)));
}

function legend(series: Series): HTMLElement {
  return h('ul', { class: 'legend' }, ...[...series.counts].map(([outcome, counts]) =>
    h('li', {}, outcomeBadge(outcome), ` ${counts.reduce((a, b) => a + b, 0)} calls`)));
}

/** The chain as the service's own walk finds it; the number of records, when known. */
async function chainStatus(box: HTMLElement): Promise<number | null> {
  try {
    const report = await getJson<VerifyReport>('/v1/transactions/verify');
    const head = report.head ? `head seq ${report.head.seq}, hash ${report.head.hash}` : 'no records yet';
    const valid = report.complete
      ? `Chain valid (the service's walk): ${head}; ${report.checked} records checked.`
      : `Chain valid so far (the service's walk): up to seq ${report.head?.seq}; ${report.checked} records checked, the rest on the next visit.`;
    replace(box, h('p', { class: report.valid ? 'verified' : 'failed', id: 'chain-status' },
      report.valid ? valid : `Chain INVALID from seq ${report.first_invalid_seq} (the service's walk).`));
    if (!report.complete) return null;
    return report.head ? report.head.seq + 1 : 0;
  } catch (error) {
    replace(box, errorBox(error));
    return null;
  }
}

async function checkpointStatus(box: HTMLElement, records: Promise<number | null>): Promise<void> {
  if (!session.verifierKey) {
    replace(box, h('p', { class: 'failed' }, 'Checkpoint not checked: no verifier key (paste one on a record\'s page).'));
    return;
  }
  try {
    const checkpoint = await signedCheckpoint(session.verifierKey);
    const count = await records;
    const covers = count === null ? '' : ` It covers ${checkpoint.size} of the ${count} records stored.`;
    replace(box, h('p', { class: 'verified', id: 'checkpoint-status' },
      `Checkpoint "${checkpoint.origin}" of size ${checkpoint.size}: signature verified here.${covers}`));
  } catch (error) {
    replace(box, h('p', { class: 'failed', id: 'checkpoint-status' }, `Checkpoint NOT verified: ${(error as Error).message}`));
  }
}

export async function renderActivity(view: HTMLElement, params: URLSearchParams): Promise<void> {
  const minutes = WINDOWS.find(([, m]) => String(m) === params.get('minutes'))?.[1] ?? 60;
  const chartBox = h('div', { 'aria-live': 'polite' }, h('p', {}, 'Loading…'));
  const chain = h('div', {});
  const checkpoint = h('div', {});
  replace(view, heading('Activity'), windowPicker(minutes), chartBox,
    h('h2', {}, 'Chain and checkpoint'), chain, checkpoint);
  const now = Date.now();
  const start = now - minutes * MINUTE;
  const loading = recordsSince(new Date(start)).then(({ items, complete }) => {
    const series = perMinute(items, start, minutes);
    replace(chartBox, barChart(series, `Calls per minute by outcome, last ${minutes} minutes`), legend(series),
      complete ? null : h('p', {}, `Only the newest ${items.length} calls are counted.`));
  }).catch((error) => replace(chartBox, errorBox(error)));
  const records = chainStatus(chain);
  await Promise.all([loading, records, checkpointStatus(checkpoint, records)]);
}
