import { createHmac } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { generateSecret, SECRET_PREFIX, signature, signatureHeader } from "#core/signing.ts";

/**
 * Signing (docs/security.md), cross-checked with the independent npm `standardwebhooks` library: whatever
 * we sign, a receiver using any Standard Webhooks library must verify, and vice versa.
 */

// A fixed secret: "whsec_" + base64 of the 32 bytes 0x00..0x1f.
const FIXED_SECRET = SECRET_PREFIX + Buffer.from(Array.from({ length: 32 }, (_, i) => i)).toString("base64");
const MSG_ID = "evt_01JDQ7Z3X4Y5Z6A7B8C9D0E1F2";
const BODY = JSON.stringify({ id: MSG_ID, type: "record.created", timestamp: "2026-11-26T10:00:00.000Z", tenantId: "acct_123", data: { recordId: "rec_1" } });

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** The headers a delivery carries, for our verifier and theirs. */
function headers(id: string, ts: number, sig: string) {
  return { "webhook-id": id, "webhook-timestamp": String(ts), "webhook-signature": sig };
}

/** Whether standardwebhooks accepts the request (it throws on any failure). */
function theirsAccept(secret: string, body: string, h: ReturnType<typeof headers>): boolean {
  try {
    new Webhook(secret).verify(body, h);
    return true;
  } catch {
    return false;
  }
}

describe("generateSecret", () => {
  test("is whsec_ + base64 of 32 bytes, and different every time", () => {
    const secrets = Array.from({ length: 20 }, generateSecret);
    for (const s of secrets) {
      expect(s).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      const key = Buffer.from(s.slice("whsec_".length), "base64");
      expect(key).toHaveLength(32);
      expect(key.toString("base64")).toBe(s.slice("whsec_".length));
    }
    expect(new Set(secrets).size).toBe(secrets.length);
  });

  test("is accepted as a secret by standardwebhooks", () => {
    expect(() => new Webhook(generateSecret())).not.toThrow();
  });
});

describe("signature", () => {
  test("equals standardwebhooks' signature for fixed inputs", () => {
    const ts = 1_795_000_000;
    const ours = signature(FIXED_SECRET, MSG_ID, ts, BODY);
    const theirs = new Webhook(FIXED_SECRET).sign(MSG_ID, new Date(ts * 1000), BODY);
    expect(ours).toBe(theirs);
    expect(ours).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
  });

  test("equals theirs for many random secrets, ids and bodies (unicode included)", () => {
    for (let i = 0; i < 25; i++) {
      const secret = generateSecret();
      const id = `evt_${i}`;
      const ts = 1_700_000_000 + i * 977;
      const body = JSON.stringify({ i, text: "Zürich — 東京 ✓ ".repeat(i) });
      expect(signature(secret, id, ts, body)).toBe(new Webhook(secret).sign(id, new Date(ts * 1000), body));
    }
  });

  test("is a known HMAC-SHA256 value (pins the exact signed string `id.timestamp.body`)", () => {
    // Computed outside this code base (Python hmac): base64(HMAC-SHA256(key=0x00..0x1f, "msg_1.1700000000.{}")).
    const expected = "v1,fhksJF5ElKjlPoT/jtefCO5XjQPvhf7Dhf/8R1ad9yU=";
    expect(signature(FIXED_SECRET, "msg_1", 1_700_000_000, "{}")).toBe(expected);
    expect(new Webhook(FIXED_SECRET).sign("msg_1", new Date(1_700_000_000_000), "{}")).toBe(expected);
    expect(signature(FIXED_SECRET, "msg_1", 1_700_000_001, "{}")).not.toBe(expected);
    expect(signature(FIXED_SECRET, "msg_2", 1_700_000_000, "{}")).not.toBe(expected);
    expect(signature(FIXED_SECRET, "msg_1", 1_700_000_000, "{ }")).not.toBe(expected);
  });
});

describe("our signature, their verifier (and the reverse)", () => {
  test("standardwebhooks verifies what we sign and returns the parsed body", () => {
    const secret = generateSecret();
    const ts = nowSeconds();
    const h = headers(MSG_ID, ts, signatureHeader([secret], MSG_ID, ts, BODY));
    expect(new Webhook(secret).verify(BODY, h)).toEqual(JSON.parse(BODY));
  });

  test("what standardwebhooks signs is exactly what we sign", () => {
    const secret = generateSecret();
    const ts = nowSeconds();
    expect(new Webhook(secret).sign(MSG_ID, new Date(ts * 1000), BODY)).toBe(signature(secret, MSG_ID, ts, BODY));
  });

  test("rotation: two space-separated signatures verify with either secret, in both libraries", () => {
    const [current, previous, stranger] = [generateSecret(), generateSecret(), generateSecret()];
    const ts = nowSeconds();
    const sig = signatureHeader([current, previous], MSG_ID, ts, BODY);
    expect(sig.split(" ")).toEqual([signature(current, MSG_ID, ts, BODY), signature(previous, MSG_ID, ts, BODY)]);
    const h = headers(MSG_ID, ts, sig);
    for (const secret of [current, previous]) expect(theirsAccept(secret, BODY, h)).toBe(true);
    expect(theirsAccept(stranger, BODY, h)).toBe(false);
  });
});

/**
 * base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")) computed here with node:crypto alone, from the
 * secret's definition (docs/security.md), independently of signing.ts and of standardwebhooks.
 */
function independentMac(secret: string, id: string, ts: number, body: string): string {
  return `v1,${createHmac("sha256", Buffer.from(secret.slice("whsec_".length), "base64"))
    .update(`${id}.${ts}.${body}`)
    .digest("base64")}`;
}

describe("refusals: a request our signer signed verifies, and the same request changed in any part does not", () => {
  /**
   * A request as the deliver λ sends it, signed by OUR signer (signatureHeader) inside the test that
   * uses it (not at collection time: each test must fail on its own when the signer is broken).
   */
  function signedByUs() {
    const secret = generateSecret();
    const ts = nowSeconds();
    const header = signatureHeader([secret], MSG_ID, ts, BODY);
    return { secret, ts, header, good: headers(MSG_ID, ts, header) };
  }
  type Signed = ReturnType<typeof signedByUs>;

  test("the untampered request: our header is the independent MAC, and standardwebhooks accepts it", () => {
    const { secret, ts, header, good } = signedByUs();
    expect(header).toBe(independentMac(secret, MSG_ID, ts, BODY));
    expect(theirsAccept(secret, BODY, good)).toBe(true);
  });

  // Each change: the key the receiver verifies with, the headers and the body it gets.
  test.each<[string, (s: Signed) => { key: string; h: ReturnType<typeof headers>; body: string }]>([
    ["a tampered body", ({ secret, good }) => ({ key: secret, h: good, body: BODY.replace("rec_1", "rec_2") })],
    ["one extra byte in the body", ({ secret, good }) => ({ key: secret, h: good, body: `${BODY} ` })],
    ["the wrong secret", ({ good }) => ({ key: generateSecret(), h: good, body: BODY })],
    ["another webhook-id", ({ secret, good }) => ({ key: secret, h: { ...good, "webhook-id": "evt_other" }, body: BODY })],
    ["a timestamp 1 s later than the signed one", ({ secret, good, ts }) => ({ key: secret, h: { ...good, "webhook-timestamp": String(ts + 1) }, body: BODY })],
    [
      "a forged signature",
      ({ secret, good }) => ({ key: secret, h: { ...good, "webhook-signature": `v1,${Buffer.alloc(32).toString("base64")}` }, body: BODY }),
    ],
    [
      "a v2 prefix on a correct MAC",
      ({ secret, good, header }) => ({ key: secret, h: { ...good, "webhook-signature": header.replace("v1,", "v2,") }, body: BODY }),
    ],
    ["an empty signature header", ({ secret, good }) => ({ key: secret, h: { ...good, "webhook-signature": "" }, body: BODY })],
  ])("%s", (_what, change) => {
    const signed = signedByUs();
    // The unchanged request carries the independent MAC and verifies (so the refusal below is due
    // to the change alone, and our signer is what made the accepted header)…
    expect(signed.header).toBe(independentMac(signed.secret, MSG_ID, signed.ts, BODY));
    expect(theirsAccept(signed.secret, BODY, signed.good)).toBe(true);
    const { key, h, body } = change(signed);
    // …our signer, asked to sign the changed request, would not have produced this header…
    expect(signatureHeader([key], h["webhook-id"], Number(h["webhook-timestamp"]), body)).not.toBe(h["webhook-signature"]);
    // …and a receiver refuses it.
    expect(theirsAccept(key, body, h)).toBe(false);
  });

  test.each([
    ["10 minutes old", -600],
    ["10 minutes in the future", 600],
  ])("a correctly signed but stale timestamp (%s)", (_what, offset) => {
    const secret = generateSecret();
    const stale = nowSeconds() + offset;
    const sig = signatureHeader([secret], MSG_ID, stale, BODY);
    // Correctly signed: the independent MAC of the stale timestamp; refused for its age alone (the
    // same header with a current timestamp, signed by us, is accepted).
    expect(sig).toBe(independentMac(secret, MSG_ID, stale, BODY));
    expect(theirsAccept(secret, BODY, headers(MSG_ID, stale, sig))).toBe(false);
    const now = nowSeconds();
    expect(theirsAccept(secret, BODY, headers(MSG_ID, now, signatureHeader([secret], MSG_ID, now, BODY)))).toBe(true);
  });
});

describe("our signer against the independent MAC", () => {
  test("one signature per secret, in order, space-separated; none for no secret", () => {
    const [a, b] = [generateSecret(), generateSecret()];
    expect(signatureHeader([a, b], MSG_ID, 1_700_000_000, BODY)).toBe(
      `${independentMac(a, MSG_ID, 1_700_000_000, BODY)} ${independentMac(b, MSG_ID, 1_700_000_000, BODY)}`,
    );
    expect(signatureHeader([], MSG_ID, 1_700_000_000, BODY)).toBe("");
  });

  test("a secret without the whsec_ prefix is the same key (its base64 bytes)", () => {
    const bare = FIXED_SECRET.slice("whsec_".length);
    expect(signature(bare, "msg_1", 1_700_000_000, "{}")).toBe("v1,fhksJF5ElKjlPoT/jtefCO5XjQPvhf7Dhf/8R1ad9yU=");
  });

  test("more than 1 000 secrets in turn (the key cache's bound) still sign each with its own key", () => {
    const secrets = Array.from({ length: 1_050 }, generateSecret);
    for (const s of [...secrets, ...secrets.slice(0, 60)])
      expect(signature(s, MSG_ID, 1_700_000_000, "{}")).toBe(independentMac(s, MSG_ID, 1_700_000_000, "{}"));
  });
});
