// Node's Buffer, as much of it as the kit's pure core uses, for the browser: the seal's page
// runs src/core's own verification (src/web/seal-kit.ts), and esbuild puts this file where
// the core says `node:buffer` or uses the global Buffer. Encodings behave as Node's do, so
// the core reaches the same verdict here as in `boreal label verify`
// (test/unit/seal.test.ts compares the two on the same bytes).

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64_VALUE = new Map<string, number>([...BASE64].map((c, i) => [c, i]));
// Node's decoder also takes the URL-safe alphabet.
BASE64_VALUE.set("-", 62).set("_", 63);

type Encoding = "utf8" | "utf-8" | "latin1" | "binary" | "base64" | "base64url" | "hex" | "ascii";

function encodingOf(encoding: string | undefined): Encoding {
  const e = (encoding ?? "utf8").toLowerCase();
  if (!["utf8", "utf-8", "latin1", "binary", "base64", "base64url", "hex", "ascii"].includes(e))
    throw new Error(`Buffer: encoding ${encoding} is not supported in the browser`);
  return e as Encoding;
}

/** As Node decodes base64: characters outside both alphabets are skipped, the first "=" ends it. */
function decodeBase64(text: string): number[] {
  const out: number[] = [];
  let bits = 0;
  let count = 0;
  for (const c of text) {
    if (c === "=") break;
    const v = BASE64_VALUE.get(c);
    if (v === undefined) continue;
    bits = (bits << 6) | v;
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push((bits >> count) & 0xff);
    }
  }
  return out;
}

function encodeBase64(bytes: Uint8Array, url: boolean): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = [18, 12, 6, 0].map((shift) => BASE64[(n >> shift) & 63]);
    const kept = Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6));
    out += chars.slice(0, kept).join("") + (url ? "" : "=".repeat(4 - kept));
  }
  return url ? out.replace(/\+/g, "-").replace(/\//g, "_") : out;
}

function bytesOf(text: string, encoding: Encoding): ArrayLike<number> {
  switch (encoding) {
    case "latin1":
    case "binary":
    case "ascii":
      return [...text].map((c) => c.charCodeAt(0) & 0xff);
    case "base64":
    case "base64url":
      return decodeBase64(text);
    case "hex": {
      const out: number[] = [];
      // As Node: pairs of hex digits, up to the first that is not one.
      for (let i = 0; i + 1 < text.length; i += 2) {
        const byte = /^[0-9a-fA-F]{2}$/.test(text.slice(i, i + 2)) ? parseInt(text.slice(i, i + 2), 16) : NaN;
        if (Number.isNaN(byte)) break;
        out.push(byte);
      }
      return out;
    }
    default:
      return new TextEncoder().encode(text);
  }
}

/** One character per byte; in slices, since a spread of a large array overflows the stack. */
function charCodes(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return out;
}

export class Buffer extends Uint8Array {
  // The second parameter is typed to fit Uint8Array.from's (a map function): only encodings are used.
  static from(
    value: string | ArrayLike<number> | ArrayBuffer | Iterable<number>,
    encoding?: string | ((v: unknown, k: number) => number),
  ): Buffer {
    if (typeof value === "string") return new Buffer(bytesOf(value, encodingOf(typeof encoding === "string" ? encoding : undefined)));
    if (value instanceof ArrayBuffer) return new Buffer(new Uint8Array(value));
    return new Buffer(value as ArrayLike<number>);
  }

  static alloc(size: number): Buffer {
    return new Buffer(size);
  }

  static concat(list: readonly Uint8Array[]): Buffer {
    const out = new Buffer(list.reduce((n, b) => n + b.length, 0));
    let at = 0;
    for (const b of list) {
      out.set(b, at);
      at += b.length;
    }
    return out;
  }

  static byteLength(value: string | Uint8Array): number {
    return typeof value === "string" ? new TextEncoder().encode(value).length : value.length;
  }

  static isBuffer(value: unknown): value is Buffer {
    return value instanceof Buffer;
  }

  static compare(a: Uint8Array, b: Uint8Array): number {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
    return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
  }

  private checkRange(offset: number, size: number): void {
    if (offset < 0 || offset + size > this.length) throw new RangeError(`offset ${offset} is out of range`);
  }

  readUInt32BE(offset = 0): number {
    this.checkRange(offset, 4);
    return ((this[offset] << 24) >>> 0) + (this[offset + 1] << 16) + (this[offset + 2] << 8) + this[offset + 3];
  }

  readUInt16BE(offset = 0): number {
    this.checkRange(offset, 2);
    return (this[offset] << 8) + this[offset + 1];
  }

  writeUInt32BE(value: number, offset = 0): number {
    this.checkRange(offset, 4);
    for (let i = 0; i < 4; i++) this[offset + i] = (value >>> (24 - 8 * i)) & 0xff;
    return offset + 4;
  }

  equals(other: Uint8Array): boolean {
    return Buffer.compare(this, other) === 0;
  }

  indexOf(needle: number | string | Uint8Array, from = 0): number {
    if (typeof needle === "number") return super.indexOf(needle, from);
    const bytes = typeof needle === "string" ? new TextEncoder().encode(needle) : needle;
    outer: for (let i = Math.max(0, from); i + bytes.length <= this.length; i++) {
      for (let j = 0; j < bytes.length; j++) if (this[i + j] !== bytes[j]) continue outer;
      return i;
    }
    return -1;
  }

  toString(encoding?: string): string {
    const e = encodingOf(encoding);
    switch (e) {
      case "latin1":
      case "binary":
        return charCodes(this);
      case "ascii":
        return charCodes(this.map((b) => b & 0x7f));
      case "base64":
        return encodeBase64(this, false);
      case "base64url":
        return encodeBase64(this, true);
      case "hex":
        return [...this].map((b) => b.toString(16).padStart(2, "0")).join("");
      default:
        return new TextDecoder().decode(this);
    }
  }
}
