// A few DOM helpers for the pages. Text always goes in as text (textContent), never as HTML,
// so nothing a server or a citizen typed can become markup or script.
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />

export type Child = Node | string | number | null | undefined | false;
export type Attributes = Record<string, string | number | boolean | null | undefined>;

/**
 * Creates `<tag>` with attributes and children. `true` sets an empty attribute, `false`,
 * null and undefined leave it out; strings and numbers become text nodes.
 * @example h('button', { type: 'button', class: 'link' }, 'Open')
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** Replaces every child of `parent`. */
export function replace(parent: Node, ...children: Child[]): void {
  while (parent.firstChild) parent.removeChild(parent.firstChild);
  append(parent, ...children);
}

/** The element with `id`, of the expected kind. @throws Error when the page lacks it. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
}

/**
 * Runs `load` when `button` is clicked, one at a time: the button is disabled until `load`
 * settles, so a second click does not fetch the same page again and list it twice, and it
 * comes back after a failure.
 */
export function onClickOneAtATime(button: HTMLButtonElement, load: () => Promise<unknown>): void {
  button.addEventListener('click', () => {
    if (button.disabled) return;
    button.disabled = true;
    void load().finally(() => (button.disabled = false));
  });
}

/**
 * Runs `submit` on each submit of `form`, one at a time: its submit buttons are disabled until
 * `submit` settles, so a double-click does not send the request twice (an application refused
 * as a duplicate after it went through, a decision signed twice, a read recorded twice).
 * `submit` handles its own errors, as `onClickOneAtATime`'s `load` does.
 */
export function onSubmitOneAtATime(form: HTMLFormElement, submit: () => Promise<unknown>): void {
  let running = false;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    // Disabled buttons stop clicks and Enter; this stops a script's requestSubmit() too.
    if (running) return;
    running = true;
    const buttons = [...form.querySelectorAll<HTMLButtonElement>('button[type="submit"]')];
    for (const button of buttons) button.disabled = true;
    void submit().finally(() => {
      running = false;
      for (const button of buttons) button.disabled = false;
    });
  });
}

/** `2026-03-01 10:00 UTC` for an ISO time; an em dash for none. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '\u2014';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** `1,234.50` for 123450 cents. */
export function formatCents(cents: number | null | undefined): string {
  if (cents === null || cents === undefined) return '\u2014';
  return (cents / 100).toLocaleString('en', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

/** A definition list from label/value pairs. */
export function definitions(pairs: readonly [string, Child][]): HTMLDListElement {
  const list = h('dl', { class: 'pairs' });
  for (const [term, value] of pairs) append(list, h('dt', {}, term), h('dd', {}, value));
  return list;
}

/** A table inside a keyboard-scrollable region (narrow screens scroll it sideways). */
export function table(caption: string, headers: readonly string[], rows: readonly Child[][]) {
  return h(
    'div',
    { class: 'table-wrap', role: 'region', 'aria-label': caption, tabindex: 0 },
    h(
      'table',
      {},
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, ...headers.map((title) => h('th', { scope: 'col' }, title)))),
      h(
        'tbody',
        {},
        ...rows.map((cells) => h('tr', {}, ...cells.map((cell) => h('td', {}, cell)))),
      ),
    ),
  );
}
