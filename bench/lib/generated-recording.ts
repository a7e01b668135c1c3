import { createWriteStream, existsSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { createGzip } from 'node:zlib';

/** The symbols of a generated recording, frames going round them in turn. */
export const GENERATED_SYMBOLS = ['BTCUSDT', 'ETHUSDT', 'BNBUSDT', 'SOLUSDT'];

/**
 * A large recording for memory benches: ~330-byte 1m kline frames 10 ms apart over 4 symbols (a
 * closed one each minute), after a meta line and one 1,000-row REST page per symbol; 45 MB gzip for
 * 1.5 M frames. Generated once in the OS temp directory and kept there for the next run (delete it after).
 */
export async function generatedRecording(frames: number): Promise<string> {
  const file = `${tmpdir()}/generated-recording-${frames}.jsonl.gz`;
  if (existsSync(file)) return file;
  const gz = createGzip({ level: 6 });
  const out = gz.pipe(createWriteStream(file));
  const write = async (line: unknown) => {
    if (!gz.write(JSON.stringify(line) + '\n')) await once(gz, 'drain');
  };
  const symbols = GENERATED_SYMBOLS;
  const t0 = 1_700_000_000_000;
  await write({ k: 'meta', t: t0, symbols, intervals: ['1m'], source: 'sim' });
  for (const s of symbols) {
    const rows = Array.from({ length: 1000 }, (_, i) => [t0 - (1000 - i) * 60_000, '43210.12', '43250.50', '43190.01', '43222.20', '123.456', t0 - (999 - i) * 60_000 - 1, '5331234.12', 100, '61.2', '2650000.1', '0']);
    await write({ k: 'rest', t: t0, a: t0, q: `/api/v3/klines?symbol=${s}&interval=1m&limit=1000`, s: 200, b: JSON.stringify(rows) });
  }
  let price = 43210;
  for (let i = 0; i < frames; i++) {
    const s = symbols[i % 4]!;
    const t = t0 + i * 10;
    price += (Math.random() - 0.5) * 5;
    const open = t - (t % 60_000);
    // The last frame of a symbol in each minute closes its bar.
    const x = t + 40 >= open + 60_000;
    const k = { t: open, T: open + 59_999, s, i: '1m', f: i, L: i + 100, o: '43210.12', c: price.toFixed(2), h: (price + 3).toFixed(2), l: (price - 3).toFixed(2), v: (Math.random() * 100).toFixed(3), n: 100 + (i % 50), x, q: '5331234.12', V: '61.2', Q: '2650000.1', B: '0' };
    await write({ k: 'ws', t, d: JSON.stringify({ stream: `${s.toLowerCase()}@kline_1m`, data: { e: 'kline', E: t, s, k } }) });
  }
  gz.end();
  await once(out, 'close');
  return file;
}
