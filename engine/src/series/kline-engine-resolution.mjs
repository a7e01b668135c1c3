// Lets series modules outside the repository import the engine: `kline-engine` (and
// `kline-engine/operators`) resolve to its operator API, and other bare specifiers such a module
// cannot resolve (rxjs) resolve as the engine's own. For ES modules through resolution hooks
// (kline-engine-hooks.mjs), for CommonJS (a .ts file with no "type": "module" above it) by wrapping
// the CommonJS resolver. Plain JavaScript: the module-loading child process uses it too.
import Module, { register } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

let installed = false;

/** Installs the resolution once per process; `hooks` and `target` are file URLs. */
export function installKlineEngineResolution(hooks, target) {
  if (installed) return;
  installed = true;
  register(hooks, { data: { target } });
  const targetPath = fileURLToPath(target);
  const engine = new Module(targetPath);
  engine.filename = targetPath;
  engine.paths = Module._nodeModulePaths(dirname(targetPath));
  const original = Module._resolveFilename;
  Module._resolveFilename = function (request, parent, isMain, options) {
    if (request === 'kline-engine' || request === 'kline-engine/operators') return targetPath;
    try {
      return original.call(this, request, parent, isMain, options);
    } catch (e) {
      if (e && e.code === 'MODULE_NOT_FOUND' && !/^(\.|\/|[a-z]+:)/i.test(request) && parent !== engine) return original.call(this, request, engine, isMain, options);
      throw e;
    }
  };
}
