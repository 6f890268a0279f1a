package fetcher

import (
	"sync"

	"github.com/kinesisio/beam-kinesis/internal/backoff"
)

// Registry holds the running fetchers of one run of a read in this
// process, one per shard (see package readstate). Its fetchers share one
// log limit: an outage that every shard waits out is logged a few times a
// minute, not once per shard.
type Registry struct {
	mu  sync.Mutex
	m   map[string]*Fetcher
	log backoff.LogLimit
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{m: map[string]*Fetcher{}} }

// Acquire returns the fetcher for key whose unconsumed records start at
// cfg.Start, starting one if there is none. A fetcher for key that starts
// elsewhere is closed: its buffer does not belong to this restriction. A
// fetcher that failed stays until a consumer has seen its error.
func (r *Registry) Acquire(key string, cfg Config, api API) *Fetcher {
	r.mu.Lock()
	f := r.m[key]
	if f != nil && f.Origin() != cfg.Start {
		delete(r.m, key)
		go f.Close()
		f = nil
	}
	if f == nil {
		if cfg.Log == nil {
			cfg.Log = &r.log
		}
		f = Start(cfg, api, func(done *Fetcher) { r.forget(key, done, false) })
		r.m[key] = f
	}
	r.mu.Unlock()
	return f
}

// Release closes the fetcher of key, if it is f, and forgets it.
func (r *Registry) Release(key string, f *Fetcher) {
	r.forget(key, f, true)
}

// ReleaseKey closes and forgets whatever fetcher key has.
func (r *Registry) ReleaseKey(key string) {
	r.mu.Lock()
	f := r.m[key]
	delete(r.m, key)
	r.mu.Unlock()
	if f != nil {
		f.Close()
	}
}

// forget removes f under key; a fetcher that reached the end of its shard
// with batches still unconsumed stays until a consumer drains it.
func (r *Registry) forget(key string, f *Fetcher, closeIt bool) {
	r.mu.Lock()
	if r.m[key] == f && (closeIt || f.disposable()) {
		delete(r.m, key)
	}
	r.mu.Unlock()
	if closeIt {
		f.Close()
	}
}

// CloseAll stops and forgets every fetcher.
func (r *Registry) CloseAll() {
	r.mu.Lock()
	fs := r.m
	r.m = map[string]*Fetcher{}
	r.mu.Unlock()
	for _, f := range fs {
		f.Close()
	}
}

// Len returns the number of fetchers held.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}
