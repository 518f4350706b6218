package actors

import (
	"github.com/asynkron/protoactor-go/actor"
	cmap "github.com/orcaman/concurrent-map"
)

// registryBuckets is how many buckets the actor system's process registry keeps (see compactRegistry).
const registryBuckets = 64

// compactRegistry shrinks protoactor's process registry right after the actor system is made, before
// any actor of Warren's is spawned. protoactor makes 1,024 buckets of 32 map shards each (32,768 maps
// and mutexes): 3 MiB of heap, 60 % of an idle broker's, to spread lookups that happen only when a PID
// is first used (a PID caches its process afterwards). 64 buckets (2,048 shards) keep lock contention
// negligible at any core count Warren runs on. The entries already registered (the event stream, dead
// letters, guardians) move over; the key hashing is protoactor's own (SliceMap.GetBucket).
func compactRegistry(sys *actor.ActorSystem) {
	sm := &actor.SliceMap{LocalPIDs: make([]cmap.ConcurrentMap, registryBuckets)}
	for i := range sm.LocalPIDs {
		sm.LocalPIDs[i] = cmap.New()
	}
	for _, bucket := range sys.ProcessRegistry.LocalPIDs.LocalPIDs {
		for id, proc := range bucket.Items() {
			sm.GetBucket(id).Set(id, proc)
		}
	}
	sys.ProcessRegistry.LocalPIDs = sm
}
