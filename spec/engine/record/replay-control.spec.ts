import { describe, expect, it } from 'vitest';
import { controlReply } from '../../../engine/src/record/replay-exchange.ts';

// The engine's shards SUBSCRIBE and wait for each reply: a replay that stayed silent made them retry and warn.
describe('replay exchange: live methods', () => {
  it('acknowledges SUBSCRIBE and UNSUBSCRIBE with their id, as Binance does', () => {
    expect(controlReply('{"method":"SUBSCRIBE","params":["btcusdt@kline_1m"],"id":7}')).toBe('{"result":null,"id":7}');
    expect(controlReply('{"method":"UNSUBSCRIBE","params":["btcusdt@kline_1m"],"id":"a"}')).toBe('{"result":null,"id":"a"}');
    expect(JSON.parse(controlReply('{"method":"LIST_SUBSCRIPTIONS","id":3}')!)).toEqual({ result: [], id: 3 });
  });
  it('ignores anything that is not a live method', () => {
    for (const text of ['', 'ping', '{"method":"SUBSCRIBE"}', '{"method":"NOPE","id":1}', 'null', '[1]']) expect(controlReply(text)).toBeUndefined();
  });
});
