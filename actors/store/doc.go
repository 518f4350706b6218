// Package store is Warren's durable state under --data-dir: the durable topology (definitions
// records) and the messages of durable queues, kept in one pebble database
// (github.com/cockroachdb/pebble/v2) and written through a group-committing writer.
//
// # Writes: group commit
//
// Every write (Submit, DropQueue, PutRecord, DeleteRecord) is a request appended to a pending
// list under a mutex; Submit returns at once. One committer goroutine takes everything pending,
// builds one pebble batch, applies it with pebble.Sync (one WAL fsync) and then calls each
// request's done callback, in submission order. Everything submitted while an fsync is in flight
// shares the next one, so N concurrent producers cost far fewer than N fsyncs. Options.CommitInterval
// optionally holds a group open a little longer to collect more requests.
//
// Each request is atomic: all of its ops are in the same batch, so after a crash either all of them
// are on disk or none is. done(nil) means "durable"; done(err) means "not known to be durable": a
// failed request's ops may or may not survive a restart (a write can reach the disk before its fsync
// fails), exactly as an unacknowledged request at a crash may or may not.
//
// # Key layout
//
// All keys live in one pebble keyspace, ordered bytewise:
//
//	message:  'm' | uvarint(len(queue)) | queue | big-endian uint64 seq
//	          value = uvarint(deliveryCount) | data
//	record:   'r' | kind | 0x00 | key
//	          value = the record's opaque bytes (JSON in practice)
//
// The length prefix makes a queue's key prefix unique (no queue's prefix is a prefix of another's),
// so one queue's messages are one contiguous key range, in seq order: Scan is a bounded iterator and
// DropQueue is a single range deletion. A record kind must not contain 0x00; a record key may hold
// any bytes.
//
// # Per-queue statistics
//
// Stats (count, bytes, highest seq) are kept in memory, updated by the committer only after a group
// is durable, and rebuilt on Open by one scan of every message key (the cost is measured by
// BenchmarkOpen: about 1.5 s per million 1 KiB messages on a 2-core VM). Bytes counts message data
// only, not the delivery-count prefix. The highest seq is an upper bound on the stored seqs: the
// highest seq put since the queue was last empty (0 while it is empty), and exact after Open.
// OpDelete and OpSetDeliveryCount of a seq at or below that bound read the stored message (usually
// from the memtable or the block cache) to keep the counts exact; above the bound they are no-ops
// without any read.
//
// # Failures
//
// Pebble treats a failed WAL write or fsync as fatal: by default it exits the process, and the
// failed batch stays visible in its memtable. Warren's store instead routes pebble's fatal log
// through its own logger, fails the group (every done gets the error), sets Err, and replaces the
// database: it closes it and reopens it read-write, which replays only what really reached the WAL
// (dropping the failed batch from view) and rebuilds the statistics. When a read-write open is not
// possible (disk still full or failing) it opens read-only, so reads keep being served, and retries
// read-write before a later group (at most every 250 ms). The first group that commits after that
// clears Err.
//
// # Concurrency
//
// Lock order: dbMu (the database handle, read-locked by Scan/Records, write-locked only to replace
// the database) before statsMu. The pending-list mutex mu is never held while taking another lock or
// doing I/O. Scan and Records callbacks must not call Scan, Records or Close; done callbacks run on
// the committer goroutine and must not block (they may call Submit).
package store
