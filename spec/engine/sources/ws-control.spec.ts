import { describe, expect, it } from 'vitest';
import { controlRequest, parseControlReply } from '../../../engine/src/sources/ws-control.ts';
import { TokenBucket } from '../../../engine/src/domain/token-bucket.ts';

describe('Binance WebSocket control messages', () => {
  it('builds requests with ids', () => {
    expect(JSON.parse(controlRequest('SUBSCRIBE', ['btcusdt@kline_1m'], 7))).toEqual({ method: 'SUBSCRIBE', params: ['btcusdt@kline_1m'], id: 7 });
    expect(JSON.parse(controlRequest('LIST_SUBSCRIPTIONS', undefined, 9))).toEqual({ method: 'LIST_SUBSCRIPTIONS', id: 9 });
  });

  it('reads replies, errors and the too-many-subscriptions error; stream frames are not replies', () => {
    expect(parseControlReply('{"result":null,"id":7}')).toEqual({ id: 7, ok: true, result: null });
    expect(parseControlReply('{"result":["a"],"id":"x1"}')).toEqual({ id: 'x1', ok: true, result: ['a'] });
    expect(parseControlReply('{"code":2,"msg":"Invalid request","id":8}')).toEqual({ id: 8, ok: false, code: 2, msg: 'Invalid request' });
    expect(parseControlReply('{"error":{"code":4,"msg":"Too many subscriptions"}}')).toEqual({ id: null, ok: false, code: 4, msg: 'Too many subscriptions' });
    expect(parseControlReply('{"error":{"code":3,"msg":"x"},"id":5}')).toMatchObject({ id: 5, ok: false, code: 3 });
    expect(parseControlReply('{"stream":"btcusdt@kline_1m","data":{"e":"kline"}}')).toBeUndefined();
    expect(parseControlReply('{"e":"kline","k":{}}')).toBeUndefined();
    expect(parseControlReply('{not json')).toBeUndefined();
    expect(parseControlReply('[1,2]')).toBeUndefined();
  });
});

describe('TokenBucket', () => {
  it('allows the burst, then one send per 1/rate seconds, never more in any second than rate + burst', () => {
    let t = 0;
    const pacer = new TokenBucket(3, 1, () => t);
    const sent: number[] = [];
    for (t = 0; t <= 5000; t += 10) while (pacer.take()) sent.push(t);
    for (let i = 0; i < sent.length; i++) {
      const inWindow = sent.filter((s) => s >= sent[i]! && s < sent[i]! + 1000).length;
      expect(inWindow).toBeLessThanOrEqual(3);
    }
    expect(sent.length).toBeGreaterThanOrEqual(15);
  });

  it('says how long to wait for the next token', () => {
    let t = 0;
    const pacer = new TokenBucket(4, 1, () => t);
    expect(pacer.waitMs()).toBe(0);
    expect(pacer.take()).toBe(true);
    expect(pacer.take()).toBe(false);
    expect(pacer.waitMs()).toBe(250);
    t = 250;
    expect(pacer.take()).toBe(true);
  });

  it('refuses a rate or burst that cannot work', () => {
    expect(() => new TokenBucket(0)).toThrow(TypeError);
    expect(() => new TokenBucket(3, 0)).toThrow(TypeError);
  });
});
