import { describe, expect, it } from 'vitest';
import { devEngineUrl } from '../../engine/src/dev-engine-url.ts';

describe("npm run dev: the engine Vite proxies to", () => {
  it("follows PORT and HOST (was :8000 whatever PORT said: every API call 502)", () => {
    expect(devEngineUrl({})).toBe('http://localhost:8000');
    expect(devEngineUrl({ PORT: '18701' })).toBe('http://localhost:18701');
    expect(devEngineUrl({ PORT: '18701', HOST: '127.0.0.1' })).toBe('http://127.0.0.1:18701');
    expect(devEngineUrl({ PORT: '9000', HOST: '::1' })).toBe('http://[::1]:9000');
    expect(devEngineUrl({ PORT: '9000', HOST: '0.0.0.0' })).toBe('http://localhost:9000');
    expect(devEngineUrl({ PORT: '9000', HOST: '::' })).toBe('http://localhost:9000');
  });
});
