import type { Bar } from '../domain/bar.ts';

/**
 * A REST klines body read straight from its bytes into bars: no text (a 1,000-row body is ~130 KB,
 * a string big enough for V8's large-object space, freed only by a full GC), no JSON tree, no string
 * per field (12,000 values, most of them decimal strings). Binance's rows have one fixed shape
 * (`[openTime, "open", "high", "low", "close", "volume", closeTime, …]`), so a scanner that knows it
 * does in one pass what decoding, `JSON.parse` and `parseKlineRows` do in three (about a third of
 * their time on a cold series' 1,000 rows; bench/micro/cold-path.ts).
 *
 * It is a fast path only: anything it does not recognise (escapes, exponents, a field of another type,
 * a row that fails the bar checks, a byte-order mark, whatever is not plain JSON of that shape)
 * returns `undefined`, and the caller parses the body the general way, whose answer and errors are
 * the reference. On the bodies it accepts, its bars are exactly `parseKlineRows(JSON.parse(text), now)`'s
 * (spec: kline-body.prop.spec.ts).
 */
export function readKlineBody(bytes: Uint8Array, now: number): Bar[] | undefined {
  return new KlineScanner(bytes).rows(now);
}

/** The body as text, decoded as undici's `body.text()` does (UTF-8, a byte-order mark skipped). */
export function bodyText(bytes: Uint8Array): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bom = buf.length > 2 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf;
  return buf.toString('utf8', bom ? 3 : 0);
}

/** Exact powers of ten (10^22 is the largest a double holds exactly). */
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);
/** Integers below this are exact doubles, and so is every partial sum of their digits. */
const EXACT = 2 ** 53;

const QUOTE = 0x22;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const BACKSLASH = 0x5c;

const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');

/** Thrown inside the scanner when the body is not of the expected shape; never leaves it. */
const NOT_MINE = Symbol('not a plain klines body');

class KlineScanner {
  private i = 0;
  /** Close time of the row read last (only the last row's matters: it decides whether it is forming). */
  private closeTime = 0;

  constructor(private readonly s: Uint8Array) {}

  rows(now: number): Bar[] | undefined {
    try {
      return this.body(now);
    } catch (e) {
      if (e === NOT_MINE) return undefined;
      throw e;
    }
  }

  private body(now: number): Bar[] {
    const bars: Bar[] = [];
    this.ws();
    this.expect(OPEN);
    this.ws();
    if (this.peek() === CLOSE) {
      this.i++;
    } else {
      for (;;) {
        bars.push(this.row());
        this.ws();
        const c = this.next();
        if (c === CLOSE) break;
        if (c !== COMMA) throw NOT_MINE;
        this.ws();
      }
    }
    this.ws();
    if (this.i !== this.s.length) throw NOT_MINE;
    // A row with a successor is final whatever the clocks say: only the last one can still be forming.
    const last = bars.length - 1;
    const b = bars[last];
    if (b && !(this.closeTime < now)) bars[last] = { openTime: b.openTime, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, closed: false };
    return bars;
  }

  /** One row: seven numbers (bare or quoted) we read, then any plain values we skip. */
  private row(): Bar {
    this.expect(OPEN);
    const openTime = this.field();
    const open = this.field();
    const high = this.field();
    const low = this.field();
    const close = this.field();
    const volume = this.field();
    this.ws();
    this.closeTime = this.value();
    for (;;) {
      this.ws();
      const c = this.next();
      if (c === CLOSE) break;
      if (c !== COMMA) throw NOT_MINE;
      this.ws();
      this.skipValue();
    }
    // parseKlineRows' checks: a bar that fails them is its to refuse (with its error).
    if (!Number.isSafeInteger(openTime) || openTime < 0 || high < low || volume < 0) throw NOT_MINE;
    return { openTime, open, high, low, close, volume, closed: true };
  }

  /** A value followed by a comma. */
  private field(): number {
    this.ws();
    const v = this.value();
    this.ws();
    this.expect(COMMA);
    return v;
  }

  /** A JSON number, or a string holding a plain decimal (what Number() reads the same way). */
  private value(): number {
    if (this.peek() !== QUOTE) return this.number(false);
    this.i++;
    const v = this.number(true);
    this.expect(QUOTE);
    return v;
  }

  /**
   * `-?digits(.digits)?`, read as Number() reads it. The digits are summed as an integer while that is
   * exact (below 2^53) and divided once by an exact power of ten: IEEE division rounds correctly, so
   * the result is the double nearest the decimal, which is what Number() returns. Longer numbers go
   * through Number() itself.
   */
  private number(quoted: boolean): number {
    const s = this.s;
    const start = this.i;
    let i = start;
    let negative = false;
    if (s[i] === MINUS) {
      negative = true;
      i++;
    }
    const intStart = i;
    let m = 0;
    let c = s[i] ?? -1;
    while (c >= ZERO && c <= NINE) {
      m = m * 10 + (c - ZERO);
      c = s[++i] ?? -1;
    }
    const intDigits = i - intStart;
    if (intDigits === 0) throw NOT_MINE;
    // JSON allows no leading zero; a quoted one is fine by Number() but left to the general path.
    if (intDigits > 1 && s[intStart] === ZERO) throw NOT_MINE;
    let decimals = 0;
    if (c === DOT) {
      c = s[++i] ?? -1;
      const fracStart = i;
      while (c >= ZERO && c <= NINE) {
        m = m * 10 + (c - ZERO);
        c = s[++i] ?? -1;
      }
      decimals = i - fracStart;
      if (decimals === 0) throw NOT_MINE;
    }
    // An exponent, a sign inside a quoted number, or anything else unusual: the general path.
    if (c === 0x65 || c === 0x45 || (quoted && c !== QUOTE)) throw NOT_MINE;
    this.i = i;
    if (m < EXACT && decimals < POW10.length) {
      const v = decimals ? m / POW10[decimals]! : m;
      return negative ? -v : v;
    }
    if (i - start > 1000) throw NOT_MINE;
    const v = Number(Buffer.from(s.buffer, s.byteOffset + start, i - start).toString('latin1'));
    // Hundreds of digits make Infinity: parseKlineRows refuses that.
    if (!Number.isFinite(v)) throw NOT_MINE;
    return v;
  }

  /** A value we do not read: a string without escapes, a plain number, true, false or null. */
  private skipValue(): void {
    const s = this.s;
    const c = this.peek();
    if (c === QUOTE) {
      let i = this.i + 1;
      for (;;) {
        // Bytes of UTF-8 sequences (0x80 and up) are string content like any other; -1 is the end.
        const d = s[i] ?? -1;
        if (d === BACKSLASH || d < 0x20) throw NOT_MINE;
        if (d === QUOTE) break;
        i++;
      }
      this.i = i + 1;
    } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
      this.number(false);
    } else if (this.word(TRUE)) this.i += 4;
    else if (this.word(FALSE)) this.i += 5;
    else if (this.word(NULL)) this.i += 4;
    else throw NOT_MINE;
  }

  private word(w: Uint8Array): boolean {
    for (let k = 0; k < w.length; k++) if (this.s[this.i + k] !== w[k]) return false;
    return true;
  }

  private ws(): void {
    const s = this.s;
    let c = s[this.i];
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = s[++this.i];
  }

  private peek(): number {
    return this.s[this.i] ?? -1;
  }

  private next(): number {
    return this.s[this.i++] ?? -1;
  }

  private expect(c: number): void {
    if (this.s[this.i] !== c) throw NOT_MINE;
    this.i++;
  }
}
