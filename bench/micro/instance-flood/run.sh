#!/bin/bash
# New derived-series instances asked through an edge by 4 client addresses x 4 series for 25 s (an
# attacker-style probe's flood): the leader's script calls, /livez of the ingest node, its leadership.
# Needs root (it adds 127.0.0.10-13 to lo) and a free port 16399 (its own redis-server), 19911, 18201, 18301.
#   bash bench/micro/instance-flood/run.sh [checkout (default: this one)]
HERE=$(cd $(dirname $0) && pwd)
ROOT=${1:-$(cd $HERE/../../.. && pwd)}; OUT=/tmp/flood-$(basename $ROOT); mkdir -p $OUT; cd $ROOT
for a in 10 11 12 13; do ip addr add 127.0.0.$a/8 dev lo 2>/dev/null; done
redis-server --port 16399 --save '' --appendonly no --daemonize yes --logfile $OUT/redis.log
sleep 0.5; redis-cli -p 16399 flushall >/dev/null
SIM_PORT=19911 SIM_UNIVERSE=300 setsid node_modules/.bin/tsx engine/sim/main.ts > $OUT/sim.log 2>&1 & echo $! > $OUT/sim.pid
sleep 3
COMMON="REDIS_URL=redis://127.0.0.1:16399/0 SOURCE=binance BINANCE_REST_URL=http://127.0.0.1:19911 BINANCE_WS_URL=ws://127.0.0.1:19911 CLIENT_DIR= HOST=127.0.0.1 SYMBOLS=BTCUSDT,ETHUSDT INTERVALS=1m,5m"
setsid env $COMMON ROLE=ingest NODE_ID=ingest1 PORT=18201 node_modules/.bin/tsx engine/src/main.ts > $OUT/ingest.log 2>&1 & echo $! > $OUT/ingest.pid
sleep 8
setsid env $COMMON ROLE=edge NODE_ID=edge1 PORT=18301 node_modules/.bin/tsx engine/src/main.ts > $OUT/edge.log 2>&1 & echo $! > $OUT/edge.pid
for i in $(seq 1 60); do curl -s 127.0.0.1:18301/health | grep -q '"status":"ok"' && break; sleep 1; done
curl -s 127.0.0.1:18201/health | head -c 300; echo
redis-cli -p 16399 config resetstat >/dev/null
node $HERE/livez.mjs http://127.0.0.1:18201 25 > $OUT/livez.out &
LZ=$!
node $HERE/flood-client.mjs ws://127.0.0.1:18301 25 127.0.0.10,127.0.0.11,127.0.0.12,127.0.0.13 'ema-cross:fast=2{a};slow={i}' 4 > $OUT/flood.out
wait $LZ
echo "flood: $(head -c 400 $OUT/flood.out)"; echo "ingest $(cat $OUT/livez.out)"
grep -c "leadership lost" $OUT/ingest.log | sed 's/^/leadership lost lines: /'
curl -s 127.0.0.1:18201/health | grep -o '"term":[0-9]*\|"leader":[a-z]*\|"stepDowns":[0-9]*' | tr '\n' ' '; echo
redis-cli -p 16399 info memory | grep used_memory_human
redis-cli -p 16399 info commandstats | grep -E "evalsha|publish" 
ps -o cputime= --ppid $(cat $OUT/ingest.pid) | sed 's/^/ingest cpu: /'
for f in edge ingest sim; do kill -- -$(cat $OUT/$f.pid) 2>/dev/null; done
redis-cli -p 16399 shutdown nosave >/dev/null 2>&1
