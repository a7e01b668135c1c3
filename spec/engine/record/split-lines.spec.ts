import { describe, expect, it } from 'vitest';
import { splitLines, TOO_LONG } from '../../../engine/src/record/split-lines.ts';

async function* chunks(parts: string[], fail?: Error): AsyncGenerator<Buffer> {
  for (const p of parts) yield Buffer.from(p);
  if (fail) throw fail;
}
async function all(source: AsyncIterable<Buffer>, max?: number) {
  const out: Array<string | typeof TOO_LONG> = [];
  for await (const l of splitLines(source, max)) out.push(l);
  return out;
}

describe('splitLines', () => {
  it('splits on \\n and \\r\\n across chunk borders, and yields a last line without \\n', async () => {
    expect(await all(chunks(['ab', 'c\nde\r', '\n\nf', 'g']))).toEqual(['abc', 'de', '', 'fg']);
    expect(await all(chunks(['a\n']))).toEqual(['a']);
    expect(await all(chunks([]))).toEqual([]);
  });

  it('skips a line longer than the bound once, however many chunks it spans, and goes on', async () => {
    expect(await all(chunks(['12', '345', '678', '9\nok\n123456\nend']), 4)).toEqual([TOO_LONG, 'ok', TOO_LONG, 'end']);
    expect(await all(chunks(['1234', '\n12345']), 4)).toEqual(['1234', TOO_LONG]);
  });

  it('passes a source error on after every complete line, dropping the unfinished one', async () => {
    const out: Array<string | typeof TOO_LONG> = [];
    const boom = new Error('unexpected end of file');
    await expect(
      (async () => {
        for await (const l of splitLines(chunks(['a\nb\nhal'], boom))) out.push(l);
      })(),
    ).rejects.toBe(boom);
    expect(out).toEqual(['a', 'b']);
  });
});
