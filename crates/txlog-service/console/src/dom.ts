// A few helpers to build the page from elements (never from HTML strings, so no record field
// can inject markup).

type Child = Node | string | null | undefined | false;

export interface Props {
  class?: string;
  [attribute: string]: string | number | boolean | undefined | EventListener;
}

/** An element with attributes (`on…` functions become listeners) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (typeof value === 'function') {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (value === true) {
      element.setAttribute(name, '');
    } else if (value !== undefined && value !== false) {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

/** Replaces everything in `parent`. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** A link to a console route (`#/…`). */
export function link(route: string, ...children: Child[]): HTMLAnchorElement {
  return h('a', { href: `#${route}` }, ...children);
}

/** A page heading that takes focus, so keyboard and screen-reader users land on the new view. */
export function heading(text: string): HTMLHeadingElement {
  return h('h1', { tabindex: -1, id: 'view-title' }, text);
}

/** An outcome as a coloured, labelled badge. */
export function outcomeBadge(outcome: string): HTMLSpanElement {
  return h('span', { class: `badge outcome-${outcome.replace(/[^a-z_]/g, '')}` }, outcome);
}

/** A failure shown in place of a view's content. */
export function errorBox(error: unknown): HTMLElement {
  const message = error instanceof Error ? error.message : String(error);
  return h('p', { class: 'error', role: 'alert' }, message);
}

export function pre(value: unknown): HTMLPreElement {
  return h('pre', { tabindex: 0 }, JSON.stringify(value, null, 2));
}
