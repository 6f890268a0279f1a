// Package faultinject is the one fault injector of the test tree: rules
// that say which calls to fail (by operation and shard, how many, for how
// long, every how many) and what to answer (a Kind of the caller's
// choosing), matched in the order they were added.
//
// It serves the two places faults are injected, which need the same
// matching but answer differently: testing/fakekinesis's server, inside
// each operation (it knows a call's shards, and its kinds include faults
// only a server can make, such as a partial PutRecords failure or an
// expired iterator), and testing/kinesistest's Proxy in front of the
// emulators (it sees HTTP only: it answers an error status or resets the
// connection, and knows no shards).
package faultinject

import (
	"slices"
	"sync"
	"time"
)

// Rule is a fault to inject: the calls it matches and the Kind to answer
// them with.
type Rule[K any] struct {
	// Op is the operation name, such as "GetRecords"; "" matches every
	// operation.
	Op string
	// Shard is the shard ID the call must address; "" matches any call.
	// A call without shards never matches a Shard.
	Shard string
	// Kind is the answer.
	Kind K
	// Times limits the rule to that many matching calls (0: no limit).
	Times int
	// For limits the rule to that long after it was added (0: no limit).
	For time.Duration
	// Every > 1 applies the rule to every Every-th matching call only
	// (the 2nd, 4th, ... for 2); the others go on to the next rules.
	// Times counts the calls it applied to.
	Every int
}

// active is a rule with its remaining budget.
type active[K any] struct {
	Rule[K]
	left  int       // calls left; <= 0 with Times == 0 means unlimited
	until time.Time // zero means no deadline
	seen  int       // matching calls seen (for Every)
}

// Injector holds rules. The zero value holds none; it is safe for
// concurrent use.
type Injector[K any] struct {
	mu    sync.Mutex
	rules []*active[K]
}

// Add adds r after the rules already held. It applies to matching calls
// until Times calls have matched or For has passed (both zero: until
// Clear).
func (in *Injector[K]) Add(r Rule[K]) {
	a := &active[K]{Rule: r, left: r.Times}
	if r.For > 0 {
		a.until = time.Now().Add(r.For)
	}
	in.mu.Lock()
	in.rules = append(in.rules, a)
	in.mu.Unlock()
}

// Clear removes every rule.
func (in *Injector[K]) Clear() {
	in.mu.Lock()
	in.rules = nil
	in.mu.Unlock()
}

// Take returns the first rule that matches a call of op addressing
// shards, and consumes one call of its budget. Only rules whose kind
// passes want (nil: all) are considered.
func (in *Injector[K]) Take(op string, shards []string, want func(K) bool) (Rule[K], bool) {
	now := time.Now()
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = slices.DeleteFunc(in.rules, func(a *active[K]) bool {
		return !a.until.IsZero() && now.After(a.until)
	})
	for i, a := range in.rules {
		if (a.Op != "" && a.Op != op) || (want != nil && !want(a.Kind)) {
			continue
		}
		if a.Shard != "" && !slices.Contains(shards, a.Shard) {
			continue
		}
		if a.Every > 1 {
			a.seen++
			if a.seen%a.Every != 0 {
				continue
			}
		}
		if a.Times > 0 {
			a.left--
			if a.left <= 0 {
				in.rules = slices.Delete(in.rules, i, i+1)
			}
		}
		return a.Rule, true
	}
	return Rule[K]{}, false
}

// Pending returns how many calls the rules for op (by name, not those
// for every operation) that have a Times limit will still fail.
func (in *Injector[K]) Pending(op string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := 0
	for _, a := range in.rules {
		if a.Op == op && a.Times > 0 {
			n += a.left
		}
	}
	return n
}
