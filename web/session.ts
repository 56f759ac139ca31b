// The bearer token of a page. Opened as `/citizen#token=<jwt>`, the page asks the person to
// confirm who they sign in as, keeps the token in sessionStorage (this tab only, gone when it
// closes) and takes it out of the address bar and history; otherwise the person pastes one
// into the sign-in form.
/// <reference lib="dom" />
import { byId, h, replace } from './dom.ts';
import { TOKEN_REFUSED } from './http.ts';
import { say } from './messages.ts';

export type Role = 'citizen' | 'officer' | 'supervisor';

/** What the token says about its holder: read for display only, the API verifies it. */
export interface TokenClaims {
  role?: string;
  sub?: string;
  agency?: string;
  exp?: number;
}

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

const storageKey = (role: Role) => `onewindow.token.${role}`;

/**
 * The token from the URL fragment (then removed from it) once the person confirms it, or
 * from this tab's storage.
 */
export function takeToken(role: Role): string | null {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const fromUrl = fragment.get('token');
  if (fromUrl !== null) {
    history.replaceState(null, '', `${location.pathname}${location.search}`);
    const question = signInQuestion(fromUrl, sessionStorage.getItem(storageKey(role)));
    if (question && confirm(question)) sessionStorage.setItem(storageKey(role), fromUrl);
  }
  return sessionStorage.getItem(storageKey(role));
}

/**
 * What to ask before a token from a link is kept, given the tab's `current` one; undefined
 * when there is nothing to take (not a token, or the one already kept). A link can carry
 * anyone's token: followed unawares, it has the person act under another name (their
 * application, with their personal data, filed under the sender's account), whether or not
 * the tab had a session. So every token from a link asks first.
 */
export function signInQuestion(fromUrl: string, current: string | null): string | undefined {
  if (!JWT.test(fromUrl) || fromUrl === current) return undefined;
  const holder = describeHolder(claimsOf(fromUrl));
  return current === null
    ? `Sign in as ${holder}? Accept only if that is you.`
    : `Sign in as ${holder} instead of ${describeHolder(claimsOf(current))}?`;
}

export function forgetToken(role: Role): void {
  sessionStorage.removeItem(storageKey(role));
}

/** The claims of a JWT, unverified; undefined when it cannot be read. */
export function claimsOf(token: string): TokenClaims | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
    const binary = atob(padded);
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes)) as TokenClaims;
  } catch {
    return undefined;
  }
}

/** "officer o-17 (registry)". */
export function describeHolder(claims: TokenClaims | undefined): string {
  if (!claims?.role) return 'an unreadable token';
  return `${claims.role} ${claims.sub ?? '?'}${claims.agency ? ` (${claims.agency})` : ''}`;
}

/**
 * Whether two tokens name the same holder (role, subject and agency), read unverified: the
 * API verifies each. False when either cannot be read.
 */
export function sameHolder(a: string, b: string): boolean {
  const before = claimsOf(a);
  const after = claimsOf(b);
  return (
    before?.role !== undefined &&
    before.sub !== undefined &&
    before.role === after?.role &&
    before.sub === after.sub &&
    before.agency === after.agency
  );
}

/**
 * Fills #session: the sign-in form when there is no token, else who is signed in and a
 * sign-out button. Calls `onToken` with the token once there is one. When the API refuses
 * that token (expired), the sign-in form shows again; a new token of the same holder is taken
 * in place, without a reload, and passed to `onRenewed`, so the page keeps what was typed.
 * Anyone else's token reloads the page: nothing of the previous holder's stays on it.
 */
export function sessionPanel(
  role: Role,
  onToken: (token: string) => void,
  onRenewed: (token: string) => void,
): void {
  const panel = byId('session');
  let current = takeToken(role);

  const signOut = h('button', { type: 'button', class: 'secondary' }, 'Sign out');
  signOut.addEventListener('click', () => {
    forgetToken(role);
    location.reload();
  });
  const showSignedIn = (token: string) => {
    const claims = claimsOf(token);
    const mismatch =
      claims?.role && claims.role !== role
        ? h('p', { class: 'warning' }, `This token is for a ${claims.role}, not a ${role}.`)
        : null;
    replace(
      panel,
      h('p', {}, 'Signed in as ', h('strong', {}, describeHolder(claims)), '. ', signOut),
      mismatch,
    );
  };
  const renew = (token: string) => {
    current = token;
    showSignedIn(token);
    onRenewed(token);
    say(`Signed in again as ${describeHolder(claimsOf(token))}. What you typed is still here.`);
  };
  const signIn = (token: string) => {
    sessionStorage.setItem(storageKey(role), token);
    if (current !== null && sameHolder(current, token)) renew(token);
    else location.reload();
  };

  // A sign-in link followed while the page is open changes only the fragment: a new token of
  // the same holder is taken in place, anything else reloads the page.
  window.addEventListener('hashchange', () => {
    if (!new URLSearchParams(location.hash.slice(1)).has('token')) return;
    const taken = takeToken(role);
    // Declined, or the token this tab has: nothing changes, and nothing typed is lost.
    if (taken === current) return;
    if (current !== null && taken !== null && sameHolder(current, taken)) renew(taken);
    else location.reload();
  });
  if (!current) {
    replace(panel, signInForm(role, 'Sign in', null, signIn));
    return;
  }
  window.addEventListener(TOKEN_REFUSED, (event) => {
    // A refusal of a token already replaced says nothing of this one, and a form already
    // shown keeps what is being pasted into it.
    const refused = (event as CustomEvent<unknown>).detail;
    if (current === null || refused !== current || panel.querySelector('#signin')) return;
    const note = h(
      'p',
      {},
      'Your token was refused: it may have expired. Sign in again as ',
      h('strong', {}, describeHolder(claimsOf(current))),
      ' and the page keeps what you typed. ',
      signOut,
    );
    replace(panel, signInForm(role, 'Sign in again', note, signIn));
  });
  showSignedIn(current);
  onToken(current);
}

/** The sign-in form: `onSignIn` gets what is pasted once it is shaped like a token. */
function signInForm(
  role: Role,
  heading: string,
  note: HTMLElement | null,
  onSignIn: (token: string) => void,
): HTMLFormElement {
  const input = h('textarea', {
    id: 'token-input',
    name: 'token',
    rows: 3,
    required: true,
    autocomplete: 'off',
    spellcheck: 'false',
    'aria-describedby': 'token-help',
  });
  const form = h(
    'form',
    { id: 'signin', class: 'stack', novalidate: true },
    h('h2', {}, heading),
    note,
    h('label', { for: 'token-input' }, `Access token (${role})`),
    h(
      'p',
      { id: 'token-help', class: 'hint' },
      'Paste the token you were given, for example by ',
      h('code', {}, `onewindow tokens --role ${role}`),
      '. It is kept in this browser tab only.',
    ),
    input,
    h('button', { type: 'submit' }, 'Sign in'),
  );
  input.addEventListener('input', () => {
    if (JWT.test(input.value.trim())) input.removeAttribute('aria-invalid');
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!JWT.test(value)) {
      input.setAttribute('aria-invalid', 'true');
      const alert = document.getElementById('alert');
      if (alert) alert.textContent = 'That is not a token: a token is three dot-separated parts.';
      input.focus();
      return;
    }
    onSignIn(value);
  });
  return form;
}
