import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fork } from 'node:child_process';
import { type SeriesDefinition, validateDefinition } from './define-series.ts';
import { CHECK_BUDGET_MS } from './forming-check.ts';
import { installKlineEngineResolution } from './kline-engine-resolution.mjs';

export class SeriesModuleError extends Error {
  override readonly name = 'SeriesModuleError';
  readonly info: { file: string };
  constructor(message: string, options: ErrorOptions & { info: { file: string } }) {
    super(message, options);
    this.info = options.info;
  }
}

export interface LoadSeriesOptions {
  /** How long a module may take to import (in a child process first). */
  timeoutMs?: number;
  /** Heap a module may use while it imports, in MB. */
  maxHeapMb?: number;
  /** How long the forming check may feed a module's operator (forming-check.ts); its phase gets `timeoutMs` more for the builds. */
  checkBudgetMs?: number;
}

const HOOKS = new URL('./kline-engine-hooks.mjs', import.meta.url).href;
const PROBE = new URL('./probe-series-module.mjs', import.meta.url);
const OPERATORS = new URL('../operators/index.ts', import.meta.url).href;
/** How long the loader process may take to start, before it imports any module (not a module's fault). */
const LOADER_START_MS = 120_000;
/** tsx's loader (TypeScript, ESM and CommonJS alike), for the worker that imports a module first. */
const TSX = import.meta.resolve('tsx');

/**
 * Loads every `*.ts` / `*.js` module of `dir` (TypeScript runs as is under tsx), validates its default
 * export, and rejects duplicates. Any bad module fails the whole load with its file named. The modules
 * are first imported in a child process with a time and heap limit: one that loops or allocates without
 * end at import fails the load with a clear error instead of hanging the engine. Series modules are
 * trusted code: once loaded they run in the engine's process.
 */
export async function loadSeriesModules(dir: string, options: LoadSeriesOptions = {}): Promise<SeriesDefinition[]> {
  const { timeoutMs = 10_000, maxHeapMb = 512, checkBudgetMs = CHECK_BUDGET_MS } = options;
  const root = resolve(dir);
  if (!existsSync(root)) return [];
  const files = readdirSync(root)
    .filter((f) => /\.(ts|js|mjs)$/.test(f) && !f.endsWith('.d.ts') && !f.startsWith('_'))
    .sort();
  // `import … from 'kline-engine'` from a directory outside the repository.
  if (files.length > 0) installKlineEngineResolution(HOOKS, OPERATORS);
  // First in a child process: a module that hangs or exhausts memory fails the load, naming it.
  if (files.length > 0) await probe(files.map((f) => join(root, f)), timeoutMs, maxHeapMb, checkBudgetMs);
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
    fileOf.set(def, file);
    defs.push(def);
  }
  return defs;
}

/** The file each loaded definition came from (to name it in a later refusal). */
const fileOf = new WeakMap<SeriesDefinition, string>();

/**
 * Refuses, naming the module's file, a definition pinned to an interval this engine does not serve:
 * only the configured INTERVALS are served (on demand too, for any symbol), so every request for it
 * would have been refused ("computed on 10m bars only", then "unknown interval").
 */
export function checkPinnedIntervals(defs: readonly SeriesDefinition[], intervals: readonly string[], seriesDir: string): void {
  for (const def of defs) {
    if (def.interval === undefined || intervals.includes(def.interval)) continue;
    const file = fileOf.get(def) ?? join(resolve(seriesDir), `${def.name}.ts`);
    throw new SeriesModuleError(
      `series module ${file} (SERIES_DIR=${seriesDir}): '${def.name}' is pinned to interval ${def.interval}, which this engine does not serve (INTERVALS=${intervals.join(',')}): add ${def.interval} to INTERVALS or change the module's interval`,
      { info: { file } },
    );
  }
}

/**
 * Imports `files` in a child process first (`timeoutMs` each, `maxHeapMb` of heap); rejects naming
 * the file that throws, hangs or runs out of memory, before the engine's own process imports any.
 */
function probe(files: string[], timeoutMs: number, maxHeapMb: number, checkBudgetMs: number): Promise<void> {
  return new Promise((ok, fail) => {
    const child = fork(fileURLToPath(PROBE), [HOOKS, OPERATORS, String(checkBudgetMs), ...files], {
      execArgv: ['--import', TSX, `--max-old-space-size=${maxHeapMb}`],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    let current = files[0] ?? '';
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    // Importing, or running its operator over the forming check's bars (imported by then).
    let checking = false;
    const arm = (ms = timeoutMs) => {
      clearTimeout(timer);
      timer = setTimeout(
        () =>
          done(
            checking
              ? `did not finish its forming/closed check within ${ms / 1000} s: its operator loops on a bar (or building it and feeding it the check's bars took that long)`
              : `did not finish loading within ${ms / 1000} s (a loop at import?)`,
          ),
        ms,
      );
    };
    const done = (err?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
      if (err) fail(new SeriesModuleError(`series module ${current} ${err}`, { info: { file: current } }));
      else ok();
    };
    // The loader process itself (node, tsx, the probe's imports) may take a while to start on a busy
    // machine: a deadline of its own, that names no module. It was 30 s, counted against the first
    // module ("did not finish loading within 30 s (a loop at import?)"), and a loaded 2-core CI
    // machine (vitest's own imports took 78 s) failed an engine's start with it.
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      if (child.exitCode === null) child.kill('SIGKILL');
      fail(new SeriesModuleError(`the series loader process did not start within ${LOADER_START_MS / 1000} s (a busy machine?); no module of ${files.join(', ')} was imported yet`, { info: { file: current } }));
    }, LOADER_START_MS);
    child.on('message', (m: { ready?: boolean; start?: string; check?: string; file?: string; ok?: boolean; error?: string; contract?: string }) => {
      if (m.ready) arm();
      else if (m.start) {
        current = m.start;
        checking = false;
        arm();
      } else if (m.check) {
        // A phase of its own: a slow import and then the check did not add up to one limit (a review).
        checking = true;
        arm(timeoutMs + checkBudgetMs);
      } else if (m.contract) done(`breaks the forming/closed contract: ${m.contract}`);
      else if (m.ok === false) done(`failed to load: ${m.error ?? 'unknown error'}`);
    });
    child.on('error', (e) => done(`could not be loaded: ${e.message}`));
    child.on('exit', (code, signal) => {
      if (code === 0) return done();
      const oom = /heap out of memory|Allocation failed/i.test(stderr);
      // Node exits 13 when the module graph's top-level await can never settle (nothing left to wait on).
      if (code === 13 && !signal) return done('never finished loading: its top-level await waits on nothing that can settle it');
      done(oom ? `ran out of memory while ${checking ? 'its operator ran over the forming check\'s bars' : 'loading'} (limit ${maxHeapMb} MB)` : `stopped while loading (${signal ?? `exit code ${code}`})`);
    });
  });
}
