package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
)

// reset deletes the application's checkpoints and releases its lease
// under a new epoch.
func (c *cmd) reset(ctx context.Context) error {
	app, spec := c.o.app, c.o.spec
	before, hadLease, err := c.store.ReadLease(ctx, app)
	if err != nil {
		return fmt.Errorf("reading the lease of application %s in %v: %w", app, spec, err)
	}
	if !hadLease {
		cps, err := c.store.Load(ctx, app, "")
		if err != nil {
			return fmt.Errorf("loading the checkpoints of application %s in %v: %w", app, spec, err)
		}
		if len(cps) == 0 {
			fmt.Fprintf(c.out, "application %s in %v has no lease and no checkpoints: nothing to delete\n", app, spec)
			return nil
		}
	}
	mine, held, err := c.guard(ctx, "reset")
	if err != nil {
		return err
	}
	if held != nil {
		before, hadLease = *held, true
		fmt.Fprintf(c.errw, "%s: warning: --force: resetting application %s under the live lease of run %s (%s).\n"+
			"If that job is still running, it fails at its next heartbeat; a checkpoint it commits before then (under its epoch %d)\n"+
			"lands in the emptied store, and the next job resumes that shard from it instead of starting fresh: stop the job,\n"+
			"then run reset again.\n",
			name, app, held.Owner, held.Job, held.Epoch)
	}
	cps, err := c.store.Load(ctx, app, "")
	if err != nil {
		c.unguard(mine)
		return fmt.Errorf("loading the checkpoints of application %s in %v: %w", app, spec, err)
	}
	if err := c.store.Reset(ctx, app); err != nil {
		c.unguardUnlessReset(mine)
		return fmt.Errorf("resetting application %s in %v: %w (run reset again to finish)", app, spec, err)
	}
	// Reset released the command's own lease, if it took one, under a new
	// epoch: there is nothing to give back.
	fmt.Fprintf(c.out, "reset application %s in %v:\n", app, spec)
	after, hasLease, err := c.store.ReadLease(ctx, app)
	switch {
	case err != nil:
		fmt.Fprintf(c.out, "  released the lease under a new epoch (reading it back failed: %v)\n", err)
	case hasLease:
		fmt.Fprintf(c.out, "  released the lease under a new epoch: %s\n", describeLease(after, time.Now()))
	}
	if hadLease {
		fmt.Fprintf(c.out, "  it was %s\n", describeLease(before, time.Now()))
	} else {
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
	fmt.Fprintf(c.out, "The next job under application %s starts fresh, at its WithStartPosition.\n", app)
	return nil
}

// unguardUnlessReset is the unguard of a reset that failed: it gives the
// command's lease back unless Reset released it already, under a new
// epoch (it failed after that, deleting files).
func (c *cmd) unguardUnlessReset(mine *checkpoint.Lease) {
	if mine == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if cur, ok, err := c.store.ReadLease(ctx, c.o.app); err == nil && ok && cur.Owner == "" && cur.Epoch > mine.Epoch {
		return
	}
	c.unguard(mine)
}

// set sets one shard's position.
func (c *cmd) set(ctx context.Context) error {
	app, spec, stream, shard, seq := c.o.app, c.o.spec, c.o.stream.Name, c.o.shardArg, c.o.seqArg
	mine, held, err := c.guard(ctx, "set")
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
	if mine != nil {
		owner = mine.Owner
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
	if held != nil {
		fmt.Fprintf(c.errw, "%s: warning: --force: the lease is live (run %s, %s): a running job does not read checkpoints\n"+
			"again, and its next commit of shard %s replaces this one; stop the job first for the position to hold.\n",
			name, held.Owner, held.Job, shard)
	}
	return nil
}

// release releases the application's lease and fences the run that held
// it.
func (c *cmd) release(ctx context.Context) error {
	app, spec := c.o.app, c.o.spec
	cur, ok, err := c.store.ReadLease(ctx, app)
	if err != nil {
		return fmt.Errorf("reading the lease of application %s in %v: %w", app, spec, err)
	}
	now := time.Now()
	switch {
	case !ok:
		fmt.Fprintf(c.out, "application %s in %v has no lease: nothing to release\n", app, spec)
		return nil
	case cur.Owner == "":
		fmt.Fprintf(c.out, "the lease of application %s in %v is already %s\n", app, spec, describeLease(cur, now))
		return nil
	}
	live := cur.Live(now)
	if live {
		if !c.o.force {
			return fmt.Errorf("application %s in %v is held by a live lease: %s.\n"+
				"A job is probably running under this name: stop it (its lease is released when it stops cleanly, or goes stale %v\n"+
				"after a crash), or pass --force to release it anyway; the running job then fails at its next heartbeat",
				app, spec, describeLease(cur, now), cur.StaleAfter)
		}
		// Acquire refuses a live lease: release it as its holder would.
		if err := c.store.Release(ctx, cur); err != nil {
			return fmt.Errorf("releasing the lease of application %s in %v: %w", app, spec, err)
		}
	}
	// Take the lease under a new epoch and give it back: the run that held
	// it then finds the epoch changed at its next heartbeat, and stops,
	// instead of taking a released lease of its own epoch for a clean stop
	// of its job.
	owner, job := operator("release")
	mine, err := c.store.Acquire(ctx, app, owner, job, opStaleAfter, time.Now())
	var he *checkpoint.HeldError
	var took *checkpoint.Lease
	switch {
	case errors.As(err, &he):
		took = &he.Lease // a new job took the name meanwhile: fenced all the same
	case err != nil:
		if live {
			return fmt.Errorf("the lease of application %s in %v was released, but taking it to fence run %s failed: %w", app, spec, cur.Owner, err)
		}
		return fmt.Errorf("taking over the stale lease of application %s in %v: %w", app, spec, err)
	default:
		c.unguard(&mine)
	}
	fmt.Fprintf(c.out, "released the lease of application %s in %v\n", app, spec)
	fmt.Fprintf(c.out, "  it was %s\n", describeLease(cur, now))
	if took != nil {
		fmt.Fprintf(c.out, "  run %s (%s) has taken it since, under epoch %d\n", took.Owner, took.Job, took.Epoch)
	} else {
		fmt.Fprintf(c.out, "A new job may take application %s at once.\n", app)
	}
	if live {
		fmt.Fprintf(c.errw, "%s: warning: --force: run %s held a live lease. If it is still running, it fails at its next heartbeat\n"+
			"(within about %v); until then it may still commit, and records may be read twice.\n",
			name, cur.Owner, cur.StaleAfter/4)
	}
	return nil
}
