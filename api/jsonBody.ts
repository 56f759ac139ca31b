// The API's one request body parser: JSON in UTF-8 (RFC 8259 §8.1), each object's member names
// unique (§4), parsed as Fastify's default parser does (its body limit, secure-json-parse
// refusing `__proto__` and `constructor.prototype`). No other media type has a parser, so
// Fastify answers any other with 415 (errors.ts names `content-type`).
import type { FastifyInstance } from 'fastify';
import { RequestValidationError, UnsupportedMediaTypeError } from './errors.ts';

/** Fatal: a byte sequence that is not UTF-8 throws rather than becoming U+FFFD. */
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The charset parameters of a Content-Type value (RFC 9110 §8.3.1: `;`-separated
 * `name=value`, the value a token or a quoted-string), lower-cased (§8.3.2: charset names
 * are case-insensitive).
 */
export function charsetsOf(contentType: string): string[] {
  const charsets: string[] = [];
  for (const [, name, value] of contentType.matchAll(
    /;\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)/g,
  ))
    if (name!.toLowerCase() === 'charset')
      charsets.push(
        value!
          .replace(/^"(.*)"$/, '$1')
          .replace(/\\(.)/g, '$1')
          .toLowerCase(),
      );
  return charsets;
}

/**
 * Whether `charset` is a label of UTF-8 (`utf8` as `utf-8`, in any case, white space at its
 * ends trimmed), asked of the WHATWG Encoding Standard's own "get an encoding" (§4.2), which
 * TextDecoder implements: it throws for a label of no encoding.
 */
export function isUtf8Label(charset: string): boolean {
  try {
    return new TextDecoder(charset).encoding === 'utf-8';
  } catch {
    return false;
  }
}

/**
 * The dotted path (`buyer.name`, `items.0.id`) of the first member name that an object in
 * `text` holds twice, compared as decoded (`"a"` and `"\u0061"` are one name), or undefined.
 * Requires `text` to be valid JSON (RFC 8259): only strings, brackets and commas are looked
 * at. Linear in the length of `text`.
 */
export function duplicateMemberPath(text: string): string | undefined {
  // One frame per open object or array: where the scan is in it (the member name, the
  // element index), an object's names so far, and whether a string next is a member name.
  const frames: { at: string | number; names?: Set<string>; nameNext: boolean }[] = [];
  for (let i = 0; i < text.length; i++) {
    const top = frames.at(-1);
    switch (text[i]) {
      case '"': {
        const start = i;
        while (text[++i] !== '"') if (text[i] === '\\') i++;
        if (!top?.names || !top.nameNext) break;
        const name = JSON.parse(text.slice(start, i + 1)) as string;
        if (top.names.has(name)) return [...frames.slice(0, -1).map((f) => f.at), name].join('.');
        top.names.add(name);
        top.at = name;
        top.nameNext = false;
        break;
      }
      case '{':
        frames.push({ at: '', names: new Set(), nameNext: true });
        break;
      case '[':
        frames.push({ at: 0, nameNext: false });
        break;
      case '}':
      case ']':
        frames.pop();
        break;
      case ',':
        if (top?.names) top.nameNext = true;
        else if (top) top.at = (top.at as number) + 1;
        break;
    }
  }
  return undefined;
}

/**
 * Replaces Fastify's `application/json` and `text/plain` parsers with one that takes JSON in
 * UTF-8 only: 415 naming `content-type` for a declared charset other than UTF-8 (isUtf8Label;
 * Fastify's read every body as UTF-8 whatever it said, so Latin-1's `ü` became U+FFFD), 400
 * naming `body` for bytes that are not UTF-8, 400 naming the path of a member name given
 * twice. `text/plain` goes: no route of the API takes text, and JSON sent as text was refused
 * as "expected object, received string" (the witness app, apart, keeps its own text parser).
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  // Fastify's own defaults ('error' for both): a body with `__proto__` or
  // `constructor.prototype` is refused, not stripped.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser(['application/json', 'text/plain']);
  // parseAs 'buffer': Fastify applies its body limit (413) and hands over the bytes undecoded.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    // RFC 8259 §11 defines no charset parameter for application/json; one naming UTF-8 (by
    // any of its labels) is harmless, any other says the bytes are not what §8.1 requires.
    const other = charsetsOf(request.headers['content-type'] ?? '').find((c) => !isUtf8Label(c));
    if (other !== undefined) {
      done(
        new UnsupportedMediaTypeError(
          'must be application/json in UTF-8 (RFC 8259 §8.1), with no other charset',
        ),
      );
      return;
    }
    let text: string;
    try {
      text = utf8.decode(body as Buffer);
    } catch {
      done(
        new RequestValidationError([
          { field: 'body', reason: 'is not UTF-8: JSON must be sent in UTF-8 (RFC 8259 §8.1)' },
        ]),
      );
      return;
    }
    // Fastify's default parser answers through `done` at once (it returns nothing).
    void parseJson(request, text, (error, value: unknown) => {
      if (error) return done(error);
      // After the parse: the scan needs valid JSON, and a malformed body is named as such.
      const duplicate = duplicateMemberPath(text);
      if (duplicate === undefined) return done(null, value);
      done(
        new RequestValidationError([
          {
            field: duplicate || 'body',
            reason:
              'is given twice: each member name of an object must be unique (RFC 8259 §4), or which one counts is unclear',
          },
        ]),
      );
    });
  });
}
