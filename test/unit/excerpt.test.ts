import { cutUtf8, EXCERPT_READ_BYTES, responseExcerpt } from "#core/excerpt.ts";
import { DELIVERY } from "#core/settings.ts";

/**
 * The attempt log's excerpt of a response body (docs/delivery-semantics.md): UTF-8 text cut to
 * DELIVERY.responseExcerptBytes on a character boundary, or `<binary, N bytes>`.
 */

const MAX = DELIVERY.responseExcerptBytes;
const bytes = (...parts: (string | number[])[]) => new Uint8Array(Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : Buffer.from(p)))));
/** What the sender hands over for a whole body: at most EXCERPT_READ_BYTES of its head, and its length. */
const excerptOf = (body: Uint8Array) => responseExcerpt(body.subarray(0, EXCERPT_READ_BYTES), body.length);

describe("responseExcerpt", () => {
  test("an empty body has no excerpt", () => {
    expect([responseExcerpt(new Uint8Array(), 0), responseExcerpt(new Uint8Array(), 10)]).toEqual([undefined, undefined]);
  });

  test("a short text body is itself, tabs and line breaks (\\t \\n \\f \\r) included", () => {
    expect(excerptOf(bytes("busy\t\n\f\r — réessayez 😀"))).toBe("busy\t\n\f\r — réessayez 😀");
  });

  test("a long text body is cut to the limit in bytes", () => {
    expect(excerptOf(bytes("a".repeat(10_000)))).toBe("a".repeat(MAX));
  });

  test("a body of exactly the limit is whole", () => {
    expect(excerptOf(bytes("b".repeat(MAX)))).toBe("b".repeat(MAX));
  });

  test.each([
    ["2-byte é (lead 0xC3)", "é"],
    ["3-byte U+0800 (lead 0xE0, the lowest 3-byte lead)", "\u0800"],
    ["3-byte € (lead 0xE2)", "€"],
    ["4-byte U+10000 (lead 0xF0, the lowest 4-byte lead)", "\u{10000}"],
  ])("a long body of %s, its head cut inside a character, is whole characters up to the limit", (_name, ch) => {
    const size = Buffer.byteLength(ch);
    // Every offset of the read cut inside a character: 1 ASCII byte shifts the characters by one.
    for (let shift = 0; shift < size; shift++) {
      const body = bytes("x".repeat(shift), ch.repeat(Math.ceil((2 * EXCERPT_READ_BYTES) / size)));
      const excerpt = excerptOf(body)!;
      expect(excerpt).toBe(`${"x".repeat(shift)}${ch.repeat(Math.floor((MAX - shift) / size))}`);
      expect(Buffer.byteLength(excerpt)).toBeLessThanOrEqual(MAX);
    }
  });

  test("a lone lead byte at the read's cut is dropped, whichever its value: the rest of it was not read", () => {
    for (const lead of [0xc0, 0xc3, 0xe0, 0xf0, 0xf4]) {
      const head = bytes("ok ".repeat(10), [lead]);
      expect(responseExcerpt(head, head.length + 100)).toBe("ok ".repeat(10));
    }
  });

  test("a body that ends inside a character (the whole body was read) is not text", () => {
    const body = bytes("ok", [0xe2, 0x82]);
    expect(excerptOf(body)).toBe("<binary, 4 bytes>");
  });

  test.each([
    ["0xFF", [0xff]],
    ["a lone continuation byte", [0x80]],
    ["an overlong '/'", [0xc0, 0xaf]],
  ])("bytes that are not UTF-8 (%s) make a binary body, with its whole length", (_name, bad) => {
    const body = bytes("abc", bad, "d".repeat(20_000));
    expect(excerptOf(body)).toBe(`<binary, ${body.length} bytes>`);
  });

  test("a read of nothing but continuation bytes is binary", () => {
    expect(responseExcerpt(bytes([0x80, 0x80]), 50)).toBe("<binary, 50 bytes>");
  });

  test.each([0x00, 0x01, 0x08, 0x0b, 0x0e, 0x1f, 0x7f])("a control character (code %i) makes a body binary", (code) => {
    expect(excerptOf(bytes("text", [code], "more"))).toBe("<binary, 9 bytes>");
  });

  test("0x0C (form feed) and 0x20 (space) and 0x7E (~) are text", () => {
    expect(excerptOf(bytes([0x0c, 0x20, 0x7e]))).toBe("\f ~");
  });
});

describe("cutUtf8", () => {
  test.each([
    ["fits", "abc", 3, "abc"],
    ["cut after ASCII", "abcdef", 4, "abcd"],
    ["a 2-byte char that does not fit", "aé", 2, "a"],
    ["a 2-byte char that exactly fits", "aé", 3, "aé"],
    ["surrogate pairs kept whole", "😀😀", 7, "😀"],
    ["exact fit of pairs", "😀😀x", 8, "😀😀"],
    ["nothing fits", "é", 1, ""],
    ["zero bytes", "abc", 0, ""],
  ])("%s", (_name, text, max, expected) => {
    expect(cutUtf8(text, max)).toBe(expected);
  });
});
