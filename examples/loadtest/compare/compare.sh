#!/usr/bin/env bash
# compare.sh OUT RUNS CASE...: runs each case against Warren and RabbitMQ, alternating, RUNS times
# (BENCHMARKS.md). Binaries: $WARREN (go build -o /tmp/warren-cmp ./cmd/warren) and $LOADTEST
# (go build -o /tmp/loadtest ./examples/loadtest).
# Each line of OUT: broker case run JSON (the load tool's, plus broker CPU ticks and RSS). Needs a RabbitMQ
# on 127.0.0.1:5672 with rabbitmq_amqp1_0, and rabbitmq_management on :15672 for declaring queues.
set -u
out=$1; runs=$2; shift 2
WARREN=${WARREN:-/tmp/warren-cmp}
LOADTEST=${LOADTEST:-/tmp/loadtest}
WPORT=5700
declare -A CASES=(
  [p16-1]="--presettled --size 16 --producers 1 --consumers 1 --queues 1"
  [p1k-1]="--presettled --size 1024 --producers 1 --consumers 1 --queues 1"
  [c16-1]="--size 16 --producers 1 --consumers 1 --queues 1"
  [c1k-1]="--size 1024 --producers 1 --consumers 1 --queues 1"
  [p16-4]="--presettled --size 16 --producers 4 --consumers 4 --queues 4"
  [p1k-4]="--presettled --size 1024 --producers 4 --consumers 4 --queues 4"
  [c16-4]="--size 16 --producers 4 --consumers 4 --queues 4"
  [c1k-4]="--size 1024 --producers 4 --consumers 4 --queues 4"
  [d16-1]="--durable --size 16 --producers 1 --consumers 1 --queues 1"
  [d1k-1]="--durable --size 1024 --producers 1 --consumers 1 --queues 1"
  [d1k-4]="--durable --size 1024 --producers 4 --consumers 4 --queues 4"
  [d1k-p4]="--durable --size 1024 --producers 4 --consumers 1 --queues 1"
  [d1k-p16]="--durable --size 1024 --producers 16 --consumers 1 --queues 1"
  [lat-c1k]="--size 1024 --producers 1 --consumers 1 --queues 1 --rate 1000"
  [lat-d1k]="--durable --size 1024 --producers 1 --consumers 1 --queues 1 --rate 1000"
  # how cost grows with load: Q producers → Q queues → Q consumers; N producers and N consumers on one queue
  [queues-1]="--size 1024 --producers 1 --consumers 1 --queues 1 --inflight 64 --duration 10s --stall-timeout 30s"
  [queues-10]="--size 1024 --producers 10 --consumers 10 --queues 10 --inflight 64 --duration 10s --stall-timeout 30s"
  [queues-100]="--size 1024 --producers 100 --consumers 100 --queues 100 --inflight 64 --duration 10s --stall-timeout 30s"
  [queues-1000]="--size 1024 --producers 1000 --consumers 1000 --queues 1000 --inflight 64 --duration 10s --stall-timeout 30s"
  [conns-2]="--size 1024 --producers 1 --consumers 1 --queues 1 --inflight 64 --duration 10s --stall-timeout 30s"
  [conns-10]="--size 1024 --producers 5 --consumers 5 --queues 1 --inflight 64 --duration 10s --stall-timeout 30s"
  [conns-100]="--size 1024 --producers 50 --consumers 50 --queues 1 --inflight 64 --duration 10s --stall-timeout 30s"
  [conns-1000]="--size 1024 --producers 500 --consumers 500 --queues 1 --inflight 64 --duration 10s --stall-timeout 30s"
)
DURATION=${DURATION:-8s}
seq=0
# rmq_queues METHOD PREFIX N declares (PUT, durable) or deletes PREFIX-0..N-1 through RabbitMQ's HTTP API.
rmq_queues() {
  seq 0 $(($3-1)) | xargs -P 8 -I{} curl -s -o /dev/null -u guest:guest -X $1 -H 'content-type: application/json' \
    -d '{"durable":true}' "http://127.0.0.1:15672/api/queues/%2F/$2-{}"
}
cpu_of() { awk '{print $14+$15}' /proc/$1/stat; }
run_one() { # broker case run
  local broker=$1 case=$2 run=$3 args=${CASES[$2]} nq pid url t s q0 c0 c1 line rss
  nq=$(echo "$args" | sed -n 's/.*--queues \([0-9]*\).*/\1/p')
  seq=$((seq+1)); q0="cmp${seq}-${case}"
  if [ "$broker" = warren ]; then
    rm -rf /tmp/cmpdata; WPORT=$((WPORT+1))
    $WARREN --amqp-addr 127.0.0.1:$WPORT --http-addr off --data-dir /tmp/cmpdata --log-level warn >/tmp/cmp-warren.log 2>&1 &
    pid=$!
    for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$WPORT) 2>/dev/null && break; sleep 0.05; done
    url=amqp://127.0.0.1:$WPORT; t="/queues/$q0-%d"; s="/queues/$q0-%d"; decl=--declare
  else
    pid=$(pgrep -f 'beam.smp.*rabbit' | head -1)
    rmq_queues PUT $q0 $nq
    url=amqp://guest:guest@127.0.0.1:5672; t="/amq/queue/$q0-%d"; s="/amq/queue/$q0-%d"; decl=
  fi
  c0=$(cpu_of $pid)
  line=$($LOADTEST --url $url --target "$t" --source "$s" $decl --duration $DURATION $args --json 2>/dev/null)
  c1=$(cpu_of $pid)
  rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
  echo "$broker $case $run ${line%\}},\"broker_cpu_ticks\":$((c1-c0)),\"broker_rss_kb\":$rss}" >> $out
  if [ "$broker" = warren ]; then kill $pid; wait $pid 2>/dev/null; else
    rmq_queues DELETE $q0 $nq; fi
}
for case in "$@"; do
  for r in $(seq 1 $runs); do
    run_one warren $case $r
    run_one rabbitmq $case $r
  done
done
