package fetcher

import (
	"strings"
	"sync"

	"github.com/kinesisio/beam-kinesis/kinesisio/internal/awsclient"
)

// Registry holds the running fetchers of this process, one per read and
// shard.
type Registry struct {
	mu sync.Mutex
	m  map[string]*Fetcher
}

// Default is the registry of this process.
var Default = NewRegistry()

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{m: map[string]*Fetcher{}} }

// Key names the fetcher of shard shardID of the Read with ID readID.
func Key(readID, shardID string) string { return readID + "/" + shardID }

// Acquire returns the fetcher for key whose unconsumed records start at
// cfg.Start, starting one if there is none. A fetcher for key that starts
// elsewhere is closed: its buffer does not belong to this restriction. A
// fetcher that failed stays until a consumer has seen its error.
func (r *Registry) Acquire(key string, cfg Config, api awsclient.Kinesis) *Fetcher {
	r.mu.Lock()
	f := r.m[key]
	if f != nil && f.Origin() != cfg.Start {
		delete(r.m, key)
		go f.Close()
		f = nil
	}
	if f == nil {
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

// CloseRead stops every fetcher of the Read with ID readID, in every run
// (keys of the form readID/shard or readID@run/shard).
func (r *Registry) CloseRead(readID string) {
	r.mu.Lock()
	var fs []*Fetcher
	for k, f := range r.m {
		if strings.HasPrefix(k, readID+"/") || strings.HasPrefix(k, readID+"@") {
			fs = append(fs, f)
			delete(r.m, k)
		}
	}
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
