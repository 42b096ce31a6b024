import { DELIVERY } from "./settings.ts";

/** Bytes to keep while reading a body: the excerpt plus the rest of a UTF-8 sequence cut at its end. */
export const EXCERPT_READ_BYTES = DELIVERY.responseExcerptBytes + 3;

const decoder = new TextDecoder("utf-8", { fatal: true });
/** Control characters other than tab, line feed, form feed and carriage return mark a body as binary. */
const BINARY_CONTROL = /[\u0000-\u0008\u000B\u000E-\u001F\u007F]/;

/**
 * The attempt log's excerpt of a response body (docs/delivery-semantics.md): text decoded first, then cut to at most
 * `DELIVERY.responseExcerptBytes` bytes of UTF-8 on a character boundary; a body that is not UTF-8
 * text is shown as `<binary, N bytes>` (never as kilobytes of U+FFFD).
 *
 * @param head the first bytes of the body (at least EXCERPT_READ_BYTES when the body is that long)
 * @param totalBytes the body's whole length as read
 */
export function responseExcerpt(head: Uint8Array, totalBytes: number): string | undefined {
  if (totalBytes === 0 || head.length === 0) return undefined;
  const truncated = totalBytes > head.length;
  // A cut inside a multi-byte sequence is not an encoding error: drop the incomplete tail first.
  const bytes = truncated ? head.subarray(0, completeUtf8Length(head)) : head;
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return `<binary, ${totalBytes} bytes>`;
  }
  if (BINARY_CONTROL.test(text)) return `<binary, ${totalBytes} bytes>`;
  return cutUtf8(text, DELIVERY.responseExcerptBytes);
}

/** The longest prefix of `text` whose UTF-8 encoding fits in `maxBytes`, never splitting a character. */
export function cutUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let bytes = 0;
  let end = 0;
  for (const ch of text) {
    const size = Buffer.byteLength(ch);
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += ch.length;
  }
  return text.slice(0, end);
}

/** Length of `bytes` without a trailing incomplete UTF-8 sequence. */
function completeUtf8Length(bytes: Uint8Array): number {
  let i = bytes.length - 1;
  // Walk back over at most 3 continuation bytes to the lead byte of the last sequence.
  let back = 0;
  while (i >= 0 && back < 3 && (bytes[i] & 0xc0) === 0x80) {
    i--;
    back++;
  }
  if (i < 0) return bytes.length;
  const lead = bytes[i];
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return bytes.length - i < need ? i : bytes.length;
}
