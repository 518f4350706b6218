#!/usr/bin/env bash
# idle.sh [cold]: a fresh Warren's memory after 25 s idle, and an idle RabbitMQ's beside it (BENCHMARKS.md).
# $WARREN is the daemon binary (go build -o /tmp/warren-cmp ./cmd/warren). With "cold", the page cache
# is dropped first (needs root): the binary's pages are then read from disk, as at a machine's first
# start, instead of being the large page-cache folios the linker's writes left behind, which the kernel
# maps whole (up to 2 MiB each) at the first touch of any byte of them.
set -u
WARREN=${WARREN:-/tmp/warren-cmp}
mem() { awk '/^(VmRSS|RssAnon|RssFile):/{printf "%s %d KiB  ", $1, $2}' /proc/$1/status; echo; }
if [ "${1:-}" = cold ]; then sync; echo 3 > /proc/sys/vm/drop_caches; fi
rm -rf /tmp/idledata
$WARREN --amqp-addr 127.0.0.1:5799 --http-addr 127.0.0.1:15799 --data-dir /tmp/idledata --log-level warn >/dev/null 2>&1 &
pid=$!
sleep 25
echo "warren   $(mem $pid)"
kill $pid; wait $pid 2>/dev/null
rpid=$(pgrep -f 'beam.smp.*rabbit' | head -1)
if [ -n "$rpid" ]; then echo "rabbitmq $(mem "$rpid")"; fi
