// RFC 8785 JSON Canonicalization Scheme (JCS). Statements and entries are signed and
// hashed as these bytes, so two implementations must agree to the byte.

/** A JSON value as RFC 8785 accepts it (I-JSON, RFC 7493): finite numbers only. */
export type JsonValue =
  null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Serialises `value` per RFC 8785: object members sorted by their UTF-16 code units
 * (§3.2.3), numbers as ECMAScript `Number.prototype.toString` (§3.2.2.3), strings with
 * the minimal JSON escapes (§3.2.2.2), no insignificant white space.
 * @throws TypeError for a non-finite number, `undefined`, a function, a symbol or a bigint.
 * @example canonicalJson({ b: 1, a: [true, null] }) // '{"a":[true,null],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`RFC 8785 forbids the number ${value}`);
      // ECMAScript's number serialisation is exactly what §3.2.2.3 prescribes.
      return JSON.stringify(value);
    case 'string':
      // JSON.stringify escapes exactly the characters §3.2.2.2 requires (and lone
      // surrogates as \u escapes, which well-formed input never has).
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
      const record = value as Record<string, unknown>;
      // Default sort compares UTF-16 code units, as §3.2.3 requires.
      const keys = Object.keys(record)
        .filter((key) => record[key] !== undefined)
        .sort();
      return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`).join(',')}}`;
    }
    default:
      throw new TypeError(`RFC 8785 cannot serialise a ${typeof value}`);
  }
}
