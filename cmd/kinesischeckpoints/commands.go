package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/backoff"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
)

// appStreams returns the application's leases and the streams that have
// a lease or a checkpoint, sorted.
func (c *cmd) appStreams(ctx context.Context) ([]checkpoint.Lease, []checkpoint.Checkpoint, []string, error) {
	app, spec := c.o.app, c.o.spec
	leases, err := c.store.Leases(ctx, app)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("reading the leases of application %s in %v: %w", app, spec, err)
	}
	cps, err := c.store.Load(ctx, app, "")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("loading the checkpoints of application %s in %v: %w", app, spec, err)
	}
	var streams []string
	for _, l := range leases {
		streams = append(streams, l.Stream)
	}
	for _, cp := range cps {
		streams = append(streams, cp.Stream)
	}
	slices.Sort(streams)
	return leases, cps, slices.Compact(streams), nil
}

// reset deletes the application's checkpoints and releases each of its
// leases under a new epoch.
func (c *cmd) reset(ctx context.Context) error {
	app, spec := c.o.app, c.o.spec
	before, cps, streams, err := c.appStreams(ctx)
	if err != nil {
		return err
	}
	if len(streams) == 0 {
		fmt.Fprintf(c.out, "application %s in %v has no lease and no checkpoints: nothing to delete\n", app, spec)
		return nil
	}
	mine, held, err := c.guard(ctx, "reset", streams)
	if err != nil {
		return err
	}
	for _, h := range held {
		fmt.Fprintf(c.errw, "%s: warning: --force: resetting application %s under the live lease of run %s (%s) on stream %s.\n"+
			"If that job is still running, it fails at its next heartbeat; what it commits until then does not count\n"+
			"(it is under an epoch below the reset's floor): the next job starts fresh all the same.\n",
			name, app, h.Owner, h.Job, h.Stream)
	}
	if err := c.store.Reset(ctx, app); err != nil {
		c.unguardUnlessReset(mine)
		return fmt.Errorf("resetting application %s in %v: %w (run reset again to finish)", app, spec, err)
	}
	// Reset released the command's own leases, under a new epoch: there is
	// nothing to give back.
	fmt.Fprintf(c.out, "reset application %s in %v:\n", app, spec)
	after, err := c.store.Leases(ctx, app)
	if err != nil {
		fmt.Fprintf(c.out, "  released the leases under a new epoch (reading them back failed: %v)\n", err)
	}
	now := time.Now()
	for _, l := range after {
		fmt.Fprintf(c.out, "  stream %s: released the lease under a new epoch: %s\n", l.Stream, describeLease(l, now))
		if i := slices.IndexFunc(before, func(b checkpoint.Lease) bool { return b.Stream == l.Stream }); i >= 0 {
			fmt.Fprintf(c.out, "    it was %s\n", describeLease(before[i], now))
		}
	}
	if len(before) == 0 {
		fmt.Fprintf(c.out, "  there was no lease before\n")
	}
	switch len(cps) {
	case 0:
		fmt.Fprintf(c.out, "  there were no checkpoints\n")
	case 1:
		fmt.Fprintf(c.out, "  deleted 1 checkpoint:\n")
	default:
		fmt.Fprintf(c.out, "  deleted %d checkpoints:\n", len(cps))
	}
	for _, cp := range cps {
		fmt.Fprintf(c.out, "    stream %s shard %s: %s\n", cp.Stream, cp.ShardID, describeCheckpoint(cp))
	}
	fmt.Fprintf(c.out, "The next job under application %s starts fresh, where its Read starts (TRIM_HORIZON, WithStartAtLatest or WithStartAtTimestamp).\n", app)
	return nil
}

// unguardUnlessReset is the unguard of a reset that failed: it gives the
// command's leases back unless Reset released them already, under a new
// epoch (it failed after that, deleting files).
func (c *cmd) unguardUnlessReset(mine []checkpoint.Lease) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var still []checkpoint.Lease
	for _, m := range mine {
		if cur, ok, err := c.store.ReadLease(ctx, c.o.app, m.Stream); err == nil && ok && cur.Owner == "" && cur.Epoch > m.Epoch {
			continue
		}
		still = append(still, m)
	}
	c.unguard(still)
}

// set sets one shard's position.
func (c *cmd) set(ctx context.Context) error {
	app, spec, stream, shard, seq := c.o.app, c.o.spec, c.o.stream.Name, c.o.shardArg, c.o.seqArg
	mine, held, err := c.guard(ctx, "set", []string{stream})
	if err != nil {
		return err
	}
	defer c.unguard(mine)
	old, err := c.store.Get(ctx, app, stream, []string{shard})
	if err != nil {
		return fmt.Errorf("reading the checkpoint of shard %s of stream %s of application %s in %v: %w", shard, stream, app, spec, err)
	}
	prev, had := old[shard]
	owner, _ := operator("set")
	if len(mine) > 0 {
		owner = mine[0].Owner
	}
	cp := checkpoint.Checkpoint{Stream: stream, ShardID: shard, Seq: seq, Parents: prev.Parents, Owner: owner}
	if err := c.store.Set(ctx, app, cp); err != nil {
		return fmt.Errorf("setting the checkpoint of shard %s of stream %s of application %s in %v: %w", shard, stream, app, spec, err)
	}
	fmt.Fprintf(c.out, "set shard %s of stream %s of application %s in %v: it resumes after sequence number %s\n", shard, stream, app, spec, seq)
	if had {
		fmt.Fprintf(c.out, "  it was: %s, updated %s\n", describeCheckpoint(prev), ago(time.Now(), prev.Updated))
		if prev.Finished {
			fmt.Fprintf(c.errw, "%s: note: shard %s was marked read to its end; it no longer is, and the next job reads it again after %s\n", name, shard, seq)
		}
	} else {
		fmt.Fprintf(c.out, "  it had no checkpoint\n")
		fmt.Fprintf(c.errw, "%s: note: shard %s of stream %s had no checkpoint: check that the stream has this shard\n", name, shard, stream)
	}
	for _, h := range held {
		fmt.Fprintf(c.errw, "%s: warning: --force: the lease is live (run %s, %s): a running job does not read checkpoints\n"+
			"again, and its next commit of shard %s replaces this one; stop the job first for the position to hold.\n",
			name, h.Owner, h.Job, shard)
	}
	return nil
}

// release releases the application's leases and fences the runs that
// held them.
func (c *cmd) release(ctx context.Context) error {
	app, spec := c.o.app, c.o.spec
	leases, err := c.store.Leases(ctx, app)
	if err != nil {
		return fmt.Errorf("reading the leases of application %s in %v: %w", app, spec, err)
	}
	if len(leases) == 0 {
		fmt.Fprintf(c.out, "application %s in %v has no lease: nothing to release\n", app, spec)
		return nil
	}
	now := time.Now()
	if !c.o.force {
		for _, cur := range leases {
			if cur.Live(now) {
				return fmt.Errorf("application %s in %v is held by a live lease on stream %s: %s.\n"+
					"A job is probably running under this name: stop it (`stop` ends it with a final checkpoint and releases its lease;\n"+
					"a crashed job's lease goes stale %v after its last heartbeat, or at once on its machine), or pass --force to release it anyway;\n"+
					"the running job then fails at its next heartbeat",
					app, spec, cur.Stream, describeLease(cur, now), cur.StaleAfter)
			}
		}
	}
	for _, cur := range leases {
		if err := c.releaseOne(ctx, cur, now); err != nil {
			return err
		}
	}
	return nil
}

// releaseOne releases the lease cur of one stream.
func (c *cmd) releaseOne(ctx context.Context, cur checkpoint.Lease, now time.Time) error {
	app, spec := c.o.app, c.o.spec
	if cur.Owner == "" {
		fmt.Fprintf(c.out, "the lease of application %s, stream %s in %v is already %s\n", app, cur.Stream, spec, describeLease(cur, now))
		return nil
	}
	live := cur.Live(now)
	if live {
		// Acquire refuses a live lease: release it as its holder would.
		if err := c.store.Release(ctx, cur); err != nil {
			return fmt.Errorf("releasing the lease of application %s, stream %s in %v: %w", app, cur.Stream, spec, err)
		}
	}
	// Take the lease under a new epoch and give it back: the run that held
	// it then finds the epoch changed at its next heartbeat, and stops,
	// instead of taking a released lease of its own epoch for a clean stop
	// of its job.
	owner, job := operator("release")
	mine, err := c.store.Acquire(ctx, checkpoint.Lease{App: app, Stream: cur.Stream, Owner: owner, Job: job, StaleAfter: opStaleAfter}, time.Now())
	var he *checkpoint.HeldError
	var took *checkpoint.Lease
	switch {
	case errors.As(err, &he):
		took = &he.Lease // a new job took the name meanwhile: fenced all the same
	case err != nil:
		if live {
			return fmt.Errorf("the lease of application %s, stream %s in %v was released, but taking it to fence run %s failed: %w", app, cur.Stream, spec, cur.Owner, err)
		}
		return fmt.Errorf("taking over the stale lease of application %s, stream %s in %v: %w", app, cur.Stream, spec, err)
	default:
		c.unguard([]checkpoint.Lease{mine})
	}
	fmt.Fprintf(c.out, "released the lease of application %s, stream %s in %v\n", app, cur.Stream, spec)
	fmt.Fprintf(c.out, "  it was %s\n", describeLease(cur, now))
	if took != nil {
		fmt.Fprintf(c.out, "  run %s (%s) has taken it since, under epoch %d\n", took.Owner, took.Job, took.Epoch)
	} else {
		fmt.Fprintf(c.out, "A new job may read stream %s under application %s at once.\n", cur.Stream, app)
	}
	if live {
		fmt.Fprintf(c.errw, "%s: warning: --force: run %s held a live lease. If it is still running, it fails at its next heartbeat\n"+
			"(within about %v); until then it may still commit, and records may be read twice.\n",
			name, cur.Owner, cur.StaleAfter/4)
	}
	return nil
}

// stop asks the jobs holding the application (on --stream, or on every
// stream) to stop gracefully and, with --wait, waits until each has
// released its lease.
func (c *cmd) stop(ctx context.Context) error {
	app, spec := c.o.app, c.o.spec
	asked, err := c.store.RequestStop(ctx, app, c.o.stream.Name)
	if errors.Is(err, checkpoint.ErrNotHeld) {
		return fmt.Errorf("no job holds application %s in %v (none runs, or it has not taken its lease yet): nothing to stop", app, spec)
	}
	if err != nil {
		return fmt.Errorf("asking the jobs of application %s in %v to stop: %w", app, spec, err)
	}
	start, now := time.Now(), time.Now()
	for _, l := range asked {
		fmt.Fprintf(c.out, "asked run %s (%s) to stop reading stream %s: it sees the request at its next heartbeat (within %v),\n"+
			"  ends every shard with its position written, releases the lease and ends by itself\n", l.Owner, l.Job, l.Stream, l.StaleAfter/4)
		if !l.Live(now) {
			fmt.Fprintf(c.errw, "%s: note: the lease of stream %s is stale (%s): its job may have crashed; the next job takes it over\n", name, l.Stream, describeLease(l, now))
		}
	}
	if !c.o.wait {
		return nil
	}
	for _, l := range asked {
		for {
			cur, ok, err := c.store.ReadLease(ctx, app, l.Stream)
			if err == nil && (!ok || cur.Owner != l.Owner || cur.Epoch != l.Epoch) {
				fmt.Fprintf(c.out, "stream %s: the job stopped and released its lease %v after the request\n", l.Stream, roundDuration(time.Since(start)))
				break
			}
			if ctx.Err() != nil || backoff.Sleep(ctx, 100*time.Millisecond) != nil {
				return fmt.Errorf("stream %s: the job did not release its lease within --timeout (%v): it may still be writing its last positions, or be unable to (see its log)", l.Stream, c.o.timeout)
			}
		}
	}
	return nil
}
