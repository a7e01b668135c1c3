// Module resolution hooks (node:module register): `kline-engine` and `kline-engine/operators` resolve
// to the engine's operator API wherever the importing file lives, so a SERIES_DIR outside the
// repository can import them (a bare specifier is otherwise looked up in node_modules next to it);
// other bare specifiers such a module cannot resolve (rxjs) resolve as the engine's own, so it
// shares the engine's copy.
let target;

export async function initialize(data) {
  target = data.target;
}

export async function resolve(specifier, context, next) {
  // Resolved further down the chain, so the TypeScript loader sees the file as its own.
  if (specifier === 'kline-engine' || specifier === 'kline-engine/operators') return next(target, context);
  try {
    return await next(specifier, context);
  } catch (e) {
    const bare = !/^(\.|\/|[a-z]+:)/i.test(specifier);
    if (bare && e && e.code === 'ERR_MODULE_NOT_FOUND' && context.parentURL !== target) return next(specifier, { ...context, parentURL: target });
    throw e;
  }
}
