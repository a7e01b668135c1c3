import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';

/**
 * The bytes of an open file from its start, read as they are asked for. Unlike a file stream, ending
 * or destroying it leaves the handle open (its owner closes it), so one descriptor can be read twice.
 */
export function fileChunks(fh: FileHandle, chunkBytes = 64 * 1024): Readable {
  async function* read(): AsyncGenerator<Buffer> {
    let position = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(chunkBytes);
      const { bytesRead } = await fh.read(buf, 0, chunkBytes, position);
      if (bytesRead === 0) return;
      position += bytesRead;
      yield bytesRead === chunkBytes ? buf : buf.subarray(0, bytesRead);
    }
  }
  return Readable.from(read(), { objectMode: false });
}
