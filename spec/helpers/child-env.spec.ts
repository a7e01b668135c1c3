import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { childEnv } from './child-env.ts';

/** The variables a source file reads: `env.NAME`, `env, 'NAME'` (config.ts's helpers), `process.env.NAME`. */
function variablesRead(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/\benv(?:\.([A-Z][A-Z0-9_]*)\b|, '([A-Z][A-Z0-9_]*)')/g)].map((m) => (m[1] ?? m[2])!);
}

const SOURCES = ['engine/src/config/config.ts', 'engine/sim/sim-env.ts', 'engine/cli/series-batch.ts', 'engine/src/record/record-cli.ts', 'engine/src/dev.ts'];

describe('childEnv', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('drops every variable the engine, the simulator and the CLIs read, keeps the rest, then sets what it is given', () => {
    const names = [...new Set(SOURCES.flatMap(variablesRead))];
    // The scan found the configuration (a renamed helper would make it find nothing).
    expect(names).toEqual(expect.arrayContaining(['REDIS_URL', 'ROLE', 'SYMBOLS', 'PORT', 'NOT_READING_HOLD_MS', 'SIM_PUSH_MS', 'SIM_START']));
    for (const name of names) vi.stubEnv(name, 'from-the-shell');
    vi.stubEnv('REDIS_KEY_PREFIX', 'from-the-shell');
    vi.stubEnv('SPEC_UNRELATED', 'kept');
    const env = childEnv({ SOURCE: 'sim', PORT: undefined });
    expect(names.concat('REDIS_KEY_PREFIX').filter((n) => n !== 'SOURCE' && env[n] !== undefined)).toEqual([]);
    expect([env.SOURCE, env.SPEC_UNRELATED, env.PATH]).toEqual(['sim', 'kept', process.env.PATH]);
  });
});
