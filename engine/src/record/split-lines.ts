/** 16 MiB: far above any frame or REST page the engine records, far below V8's string limit. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

/** A line longer than the bound, skipped without being built. */
export const TOO_LONG = Symbol('line too long');

/**
 * Splits a byte stream into text lines (`\n` or `\r\n`), holding at most `maxBytes` of one line:
 * a longer line is dropped as it streams and yields TOO_LONG once. A last line without `\n` is
 * yielded when the source ends; if the source throws, that unfinished line is dropped and the error
 * passes on after every complete line.
 */
export async function* splitLines(source: AsyncIterable<Buffer>, maxBytes = MAX_LINE_BYTES): AsyncGenerator<string | typeof TOO_LONG> {
  let parts: Buffer[] = [];
  let size = 0;
  let skipping = false;
  const text = (last: Buffer) => {
    const buf = parts.length ? Buffer.concat([...parts, last]) : last;
    parts = [];
    size = 0;
    const end = buf.length && buf[buf.length - 1] === 13 ? buf.length - 1 : buf.length;
    return buf.toString('utf8', 0, end);
  };
  for await (const chunk of source) {
    let from = 0;
    while (from <= chunk.length) {
      const nl = chunk.indexOf(10, from);
      const piece = chunk.subarray(from, nl === -1 ? chunk.length : nl);
      if (!skipping) {
        size += piece.length;
        if (size > maxBytes) {
          // Free what was held at once: the rest of this line is never kept.
          parts = [];
          size = 0;
          skipping = true;
          yield TOO_LONG;
        } else if (nl !== -1) yield text(piece);
        else if (piece.length) parts.push(Buffer.from(piece)); // a copy: the stream may reuse its chunk
      }
      if (nl === -1) break;
      skipping = false;
      from = nl + 1;
    }
  }
  if (!skipping && size > 0) yield text(Buffer.alloc(0));
}
