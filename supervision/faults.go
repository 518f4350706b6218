package supervision

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// armed: faults fire only in binaries built by `go test`, never in a production build.
var armed = testing.Testing()

// Faults makes chosen actors panic on chosen messages, for tests of supervision. A broker has one only
// when its embedding program sets Options.Faults; the daemon never does, so production brokers carry a
// nil *Faults and pay one nil check per message. Even when set, the rules fire only in a test binary
// (testing.Testing): in a production build a *Faults is inert.
type Faults struct {
	mu    sync.Mutex
	rules []*rule
}

type rule struct {
	kind    Kind   // match actors of this kind ("" = any)
	name    string // and whose id contains this ("" = any)
	msgType string // on messages of this Go type name, e.g. "*actors.enqueueBatch" ("" = any)
	times   int    // panics left; < 0 = every time
}

// NewFaults returns an empty injector.
func NewFaults() *Faults { return &Faults{} }

// Inject adds a rule: the next `times` messages of type msgType reaching an actor of kind whose id
// contains name make it panic (times < 0: every one).
func (f *Faults) Inject(kind Kind, name, msgType string, times int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, &rule{kind: kind, name: name, msgType: msgType, times: times})
}

// Clear removes every rule.
func (f *Faults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = nil
}

// InjectedPanic is the value an injected fault panics with.
type InjectedPanic struct{ Actor, Message string }

func (p InjectedPanic) String() string {
	return fmt.Sprintf("injected fault in %s on %s", p.Actor, p.Message)
}

// Check panics when a rule matches; it is a no-op on a nil *Faults and outside test binaries.
func (f *Faults) Check(actorID string, msg any) {
	if f == nil || !armed {
		return
	}
	t := reflect.TypeOf(msg)
	if t == nil {
		return
	}
	typ := t.String()
	f.mu.Lock()
	var hit bool
	for _, r := range f.rules {
		if r.times == 0 || (r.kind != "" && KindOf(actorID) != r.kind) ||
			(r.name != "" && !strings.Contains(actorID, r.name)) || (r.msgType != "" && r.msgType != typ) {
			continue
		}
		if r.times > 0 {
			r.times--
		}
		hit = true
		break
	}
	f.mu.Unlock()
	if hit {
		panic(InjectedPanic{Actor: actorID, Message: typ})
	}
}
