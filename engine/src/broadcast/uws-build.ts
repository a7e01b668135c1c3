import { createRequire } from 'node:module';

/** Which uWebSockets.js is loaded: the native binary, or the package's slow JS fallback shim. */
export function uwsBuild(): 'native' | 'js-fallback' {
  const require = createRequire(import.meta.url);
  const uws = require('uWebSockets.js') as { App: unknown };
  // The native addon's functions print as [native code]; the fallback is plain JavaScript.
  return String(uws.App).includes('[native code]') ? 'native' : 'js-fallback';
}
