// Imports series modules in a child process, one after another, telling the parent which file it
// starts and how each went: `{ ready: true }` once this process has started, `{ start: file }`, `{ check: file }` once imported (its operator runs
// over the forming check's bars, forming-check.ts), then `{ file, ok, error? }` (or `contract`: it
// breaks the forming/closed contract). Plain JavaScript: the process runs with tsx's loader
// (`--import tsx`) and the kline-engine hooks (argv[2], argv[3]); argv[4] is the check's budget in ms.
import { installKlineEngineResolution } from './kline-engine-resolution.mjs';
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import { formingProblem } from './forming-check.ts';

const [hooks, target, budget, ...files] = process.argv.slice(2);
installKlineEngineResolution(hooks, target);
// Started (node, tsx and this file's own imports): the parent's limits per module run from here.
process.send({ ready: true });
for (const file of files) {
  process.send({ start: file });
  try {
    const mod = await import(pathToFileURL(file).href);
    const d = mod.default;
    // Here, under the probe's time and heap limits: it runs the operator over up to 5,200 bars.
    const checkable = d && typeof d === 'object' && typeof d.operator === 'function' && d.params && typeof d.params === 'object';
    if (checkable) process.send({ check: file });
    const contract = checkable ? formingProblem(d, Number(budget)) : undefined;
    if (contract) process.send({ file, ok: false, contract });
    else process.send({ file, ok: true, name: d && typeof d === 'object' ? String(d.name) : undefined });
  } catch (e) {
    process.send({ file, ok: false, error: e instanceof Error ? e.message : String(e) });
  }
}
process.disconnect();
