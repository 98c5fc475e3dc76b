/**
 * The source text of each record of a whole JSON document (an EventList's `items`, CloudTrail's
 * `Records`, a top-level array), so the collector can forward a record's own bytes instead of
 * re-serializing it (DecodeResult.texts). JSON.stringify of 400 audit events costs as much as parsing
 * them (~1.25 ms for 430 KB here); finding their boundaries in text that JSON.parse has already accepted
 * costs about a third of that, because the scan jumps from quote to quote with the engine's native
 * `indexOf` and only looks at the few characters between strings.
 *
 * Only ever called on text that `JSON.parse` accepted, so the grammar needs no checking here (RFC 8259
 * §2: outside strings there is only structure, whitespace, numbers and literals). Any surprise (running
 * off the end, a count or a shape that differs from the parsed records) returns undefined, and the
 * caller re-serializes as before: a wrong slice would forward text the redaction never saw.
 */

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;

class Unexpected extends Error {}

/** Index of the quote that closes the string opening at `open` (a quote preceded by an even run of backslashes). */
function stringEnd(text: string, open: number): number {
  let q = open;
  for (;;) {
    q = text.indexOf('"', q + 1);
    if (q < 0) throw new Unexpected();
    let b = q - 1;
    while (text.charCodeAt(b) === BACKSLASH) b--;
    if ((q - 1 - b) % 2 === 0) return q;
  }
}

function skipSpace(text: string, i: number): number {
  // RFC 8259 §2: insignificant whitespace is space, tab, LF and CR, all below 0x21; nothing else below
  // 0x21 can stand outside a string in valid JSON.
  while (i < text.length && text.charCodeAt(i) <= 32) i++;
  return i;
}

/** Index just past the value that starts at `i`. */
function valueEnd(text: string, i: number): number {
  const n = text.length;
  const c = text.charCodeAt(i);
  if (c === QUOTE) return stringEnd(text, i) + 1;
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    let depth = 0;
    while (i < n) {
      const d = text.charCodeAt(i);
      if (d === QUOTE) {
        i = stringEnd(text, i) + 1;
        continue;
      }
      i++;
      if (d === OPEN_BRACE || d === OPEN_BRACKET) depth++;
      else if ((d === CLOSE_BRACE || d === CLOSE_BRACKET) && --depth === 0) return i;
    }
    throw new Unexpected();
  }
  // Number or literal: runs to the next delimiter or whitespace.
  while (i < n) {
    const d = text.charCodeAt(i);
    if (d === COMMA || d === CLOSE_BRACKET || d === CLOSE_BRACE || d <= 32) break;
    i++;
  }
  return i;
}

/** Elements of the array that opens at `i`; returns them and the index just past its `]`. */
function elements(text: string, i: number): { texts: string[]; end: number } {
  const texts: string[] = [];
  i = skipSpace(text, i + 1);
  if (text.charCodeAt(i) === CLOSE_BRACKET) return { texts, end: i + 1 };
  for (;;) {
    const end = valueEnd(text, i);
    texts.push(text.slice(i, end));
    i = skipSpace(text, end);
    const c = text.charCodeAt(i);
    if (c === CLOSE_BRACKET) return { texts, end: i + 1 };
    if (c !== COMMA) throw new Unexpected();
    i = skipSpace(text, i + 1);
  }
}

/**
 * Texts of the elements of the document's top-level array (`key` undefined), or of the array under the
 * top-level member `key` — its last occurrence, since JSON.parse keeps the last of duplicate names
 * (ECMA-262 §25.5.1.1 InternalizeJSONProperty creates them in order, each overwriting the previous).
 */
export function arrayElementTexts(text: string, key?: string): string[] | undefined {
  try {
    let i = skipSpace(text, 0);
    const first = text.charCodeAt(i);
    if (key === undefined) return first === OPEN_BRACKET ? elements(text, i).texts : undefined;
    if (first !== OPEN_BRACE) return undefined;
    let found: string[] | undefined;
    i = skipSpace(text, i + 1);
    if (text.charCodeAt(i) === CLOSE_BRACE) return undefined;
    for (;;) {
      if (text.charCodeAt(i) !== QUOTE) throw new Unexpected();
      const close = stringEnd(text, i);
      // A name with an escape (`"it\u0065ms"`) is compared by its value.
      const raw = text.slice(i + 1, close);
      const matches = raw.includes("\\") ? JSON.parse(text.slice(i, close + 1)) === key : raw === key;
      i = skipSpace(text, close + 1);
      if (text.charCodeAt(i) !== COLON) throw new Unexpected();
      i = skipSpace(text, i + 1);
      if (matches && text.charCodeAt(i) === OPEN_BRACKET) {
        const r = elements(text, i);
        found = r.texts;
        i = r.end;
      } else {
        if (matches) found = undefined;
        i = valueEnd(text, i);
      }
      i = skipSpace(text, i);
      const c = text.charCodeAt(i);
      if (c === CLOSE_BRACE) return found;
      if (c !== COMMA) throw new Unexpected();
      i = skipSpace(text, i + 1);
    }
  } catch (e) {
    if (e instanceof Unexpected) return undefined;
    throw e;
  }
}

/**
 * `texts` for a whole-document decode: when the records are exactly the elements of the parsed
 * document's top-level array, or of one top-level member's array (the same objects, in order), each
 * record's slice of `text`; otherwise undefined (records built by unwrapping, e.g. a Pub/Sub push or a
 * CloudWatch Logs message, have no text of their own here).
 */
export function wholeDocumentTexts(text: string, doc: unknown, records: unknown[]): string[] | undefined {
  if (records.length === 0 || typeof doc !== "object" || doc === null) return undefined;
  let key: string | undefined;
  if (!Array.isArray(doc)) {
    for (const k of Object.keys(doc)) {
      if (sameElements((doc as Record<string, unknown>)[k], records)) {
        key = k;
        break;
      }
    }
    if (key === undefined) return undefined;
  } else if (!sameElements(doc, records)) return undefined;
  const texts = arrayElementTexts(text, key);
  if (!texts || texts.length !== records.length) return undefined;
  // Cheap shape check per record: an object's text opens with `{`, an array's with `[`.
  for (let i = 0; i < texts.length; i++) {
    const r = records[i];
    const c = texts[i].charCodeAt(0);
    if (typeof r === "object" && r !== null && c !== (Array.isArray(r) ? OPEN_BRACKET : OPEN_BRACE))
      return undefined;
  }
  return texts;
}

function sameElements(v: unknown, records: unknown[]): boolean {
  if (!Array.isArray(v) || v.length !== records.length) return false;
  for (let i = 0; i < v.length; i++) if (v[i] !== records[i]) return false;
  return true;
}
