#!/usr/bin/env bash
# backlog.sh BROKER N SIZE (BROKER warren or rabbitmq): fill one durable queue with N durable messages
# (4 producers, no consumer),
# then drain it with one consumer; samples the broker's RSS every 2 s.
set -u
broker=$1; n=$2; size=$3
LOADTEST=${LOADTEST:-/tmp/loadtest}
q=backlog-$$
if [ "$broker" = warren ]; then
  rm -rf /tmp/bldata
  ${WARREN:-/tmp/warren-cmp} --amqp-addr 127.0.0.1:5900 --http-addr off --data-dir /tmp/bldata --log-level warn >/tmp/bl-warren.log 2>&1 &
  pid=$!; sleep 1; url=amqp://127.0.0.1:5900; addr=/queues/$q; decl=--declare
else
  pid=$(pgrep -f 'beam.smp.*rabbit' | head -1); url=amqp://guest:guest@127.0.0.1:5672; addr=/amq/queue/$q; decl=
  curl -s -o /dev/null -u guest:guest -X PUT -H 'content-type: application/json' -d '{"durable":true}' "http://127.0.0.1:15672/api/queues/%2F/$q"
fi
( while kill -0 $pid 2>/dev/null; do echo "$(date +%s) $(awk '/VmRSS/{print $2}' /proc/$pid/status)"; sleep 2; done ) > /tmp/bl-rss-$broker.txt &
sampler=$!
c0=$(awk '{print $14+$15}' /proc/$pid/stat)
fill=$($LOADTEST --url $url --target $addr --source $addr $decl --producers 4 --consumers 0 --count $n --size $size --durable --stall-timeout 60s --json 2>/dev/null)
c1=$(awk '{print $14+$15}' /proc/$pid/stat); rss_full=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
drain=$($LOADTEST --url $url --source $addr --producers 0 --consumers 1 --count $n --stall-timeout 60s --json 2>/dev/null)
c2=$(awk '{print $14+$15}' /proc/$pid/stat); rss_end=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
kill $sampler
peak=$(awk '{if ($2>m) m=$2} END {print m}' /tmp/bl-rss-$broker.txt)
echo "$broker fill $fill"
echo "$broker drain $drain"
echo "$broker rss_full_kb=$rss_full rss_end_kb=$rss_end rss_peak_kb=$peak fill_cpu_ticks=$((c1-c0)) drain_cpu_ticks=$((c2-c1))"
if [ "$broker" = warren ]; then du -sh /tmp/bldata; kill $pid; wait $pid 2>/dev/null; rm -rf /tmp/bldata; fi
