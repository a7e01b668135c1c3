import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type SeriesDefinition, validateDefinition } from './define-series.ts';

export class SeriesModuleError extends Error {
  override readonly name = 'SeriesModuleError';
  readonly info: { file: string };
  constructor(message: string, options: ErrorOptions & { info: { file: string } }) {
    super(message, options);
    this.info = options.info;
  }
}

/**
 * Loads every `*.ts` / `*.js` module of `dir` (TypeScript runs as is under tsx), validates its default
 * export, and rejects duplicates. Any bad module fails the whole load with its file named.
 */
export async function loadSeriesModules(dir: string): Promise<SeriesDefinition[]> {
  const root = resolve(dir);
  if (!existsSync(root)) return [];
  const files = readdirSync(root)
    .filter((f) => /\.(ts|js|mjs)$/.test(f) && !f.endsWith('.d.ts') && !f.startsWith('_'))
    .sort();
  const defs: SeriesDefinition[] = [];
  const seen = new Map<string, string>();
  for (const f of files) {
    const file = join(root, f);
    let mod: { default?: unknown };
    try {
      // A query string defeats the module cache so a dev reload sees the new file.
      mod = (await import(`${pathToFileURL(file).href}?v=${Date.now()}`)) as { default?: unknown };
    } catch (e) {
      throw new SeriesModuleError(`series module ${file} failed to load: ${(e as Error).message}`, { cause: e, info: { file } });
    }
    try {
      validateDefinition(mod.default);
    } catch (e) {
      throw new SeriesModuleError(`series module ${file} is invalid: ${(e as Error).message}`, { cause: e, info: { file } });
    }
    const def = mod.default;
    const other = seen.get(def.name);
    if (other) throw new SeriesModuleError(`series module ${file}: name '${def.name}' is already used by ${other}`, { info: { file } });
    seen.set(def.name, file);
    defs.push(def);
  }
  return defs;
}
