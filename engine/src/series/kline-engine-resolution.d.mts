/** Installs the resolution of `kline-engine` (and the engine's dependencies) once per process. */
export function installKlineEngineResolution(hooks: string, target: string): void;
