#!/usr/bin/env bash
# ab.sh ROUNDS "LOADTEST ARGS" BINARY... : runs the load tool against each Warren binary in turn (a fresh
# daemon and data directory per run), ROUNDS times, and prints one line per run: the binary, the round,
# the load tool's JSON, and the broker's CPU per message received and RSS. For before/after figures of
# a change: build the binary before and after it, and give both.
set -u
rounds=$1; args=$2; shift 2
LOADTEST=${LOADTEST:-/tmp/loadtest}
tck=$(getconf CLK_TCK)
port=5690
for r in $(seq 1 "$rounds"); do
  for bin in "$@"; do
    port=$((port+1))
    rm -rf /tmp/abdata
    "$bin" --amqp-addr 127.0.0.1:$port --http-addr off --data-dir /tmp/abdata --log-level warn >/tmp/ab-broker.log 2>&1 &
    pid=$!
    for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
    c0=$(awk '{print $14+$15}' /proc/$pid/stat)
    out=$($LOADTEST --url amqp://127.0.0.1:$port --target /queues/ab --source /queues/ab --declare $args --json 2>/dev/null)
    c1=$(awk '{print $14+$15}' /proc/$pid/stat)
    rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
    recv=$(echo "$out" | sed -n 's/.*"received":\([0-9]*\).*/\1/p')
    echo "$(basename "$bin") r$r $out cpu_ns_per_msg=$(( (c1-c0) * 1000000000 / tck / (${recv:-0} > 0 ? recv : 1) )) rss_kb=$rss"
    kill $pid; wait $pid 2>/dev/null
  done
done
