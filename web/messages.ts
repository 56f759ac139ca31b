// Status and error messages in the page's aria-live regions (#status polite, #alert assertive),
// so a screen reader hears what happened without the focus moving.
/// <reference lib="dom" />
import { ApiError } from './http.ts';

function region(id: string): HTMLElement | null {
  return document.getElementById(id);
}

/** Says `text` politely in #status and clears any error. */
export function say(text: string): void {
  const status = region('status');
  const alert = region('alert');
  if (alert) alert.textContent = '';
  if (status) status.textContent = text;
}

/**
 * Shows an error in #alert: an API error's reason and field (every field's, when it names
 * several), or the error's message.
 */
export function sayError(error: unknown, doing?: string): void {
  const alert = region('alert');
  const status = region('status');
  if (status) status.textContent = '';
  let text: string;
  if (error instanceof ApiError) {
    text =
      error.issues.length > 1
        ? error.issues.map((issue) => `${issue.reason} (field: ${issue.field})`).join('; ')
        : `${error.reason}${error.field ? ` (field: ${error.field})` : ''}`;
    if (error.status === 401)
      text += '. Sign in again with a new token: the page keeps what you typed.';
  } else text = error instanceof Error ? error.message : String(error);
  if (alert) alert.textContent = doing ? `${doing}: ${text}` : text;
}
