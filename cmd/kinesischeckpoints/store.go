package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
)

// cmd is one run of a command.
type cmd struct {
	o     *options
	out   io.Writer // the command's report
	errw  io.Writer // warnings
	store checkpoint.Store
}

// run opens the store and runs the command.
func (c *cmd) run(ctx context.Context) error {
	// Only set may create the store, as a job would: the others would
	// otherwise leave an empty store behind a mistyped name.
	created, err := c.open(ctx, c.o.command == "set")
	if err != nil {
		return err
	}
	defer c.store.Close()
	if created {
		fmt.Fprintf(c.errw, "%s: note: %v did not exist; it was created\n", name, c.o.spec)
	}
	switch c.o.command {
	case "list":
		return c.list(ctx)
	case "reset":
		return c.reset(ctx)
	case "set":
		return c.set(ctx)
	case "stop":
		return c.stop(ctx)
	default:
		return c.release(ctx)
	}
}

// open opens the store of the options. A store that does not exist is an
// error unless create is set; created reports that it did not exist.
func (c *cmd) open(ctx context.Context, create bool) (created bool, err error) {
	spec := c.o.spec
	var exists bool
	switch spec.Kind {
	case checkpoint.Dir:
		_, err := os.Stat(spec.Path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("%v: %w", spec, err)
		}
		exists = err == nil
	default:
		if exists, err = tableExists(ctx, spec); err != nil {
			return false, err
		}
	}
	if !exists && !create {
		flag := "--dir"
		if spec.Kind == checkpoint.DynamoDB {
			flag = "--table, --table_region or --table_endpoint"
		}
		return false, fmt.Errorf("%v does not exist (check %s; a job creates its store when it first starts)", spec, flag)
	}
	st, err := checkpoint.Open(ctx, spec)
	if err != nil {
		return false, fmt.Errorf("opening %v: %w", spec, err)
	}
	c.store = st
	return !exists, nil
}

// tableExists reports whether the table of spec exists, without creating
// it (checkpoint.Open would).
func tableExists(ctx context.Context, spec checkpoint.Spec) (bool, error) {
	cfg, err := awsclient.LoadConfig(ctx, spec.Conn)
	if err != nil {
		return false, fmt.Errorf("%v: %w (with --table, set the region with --table_region or AWS_REGION)", spec, err)
	}
	client := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if spec.Conn.Endpoint != "" {
			o.BaseEndpoint = aws.String(spec.Conn.Endpoint)
		}
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 3
			so.MaxBackoff = time.Second
			so.RateLimiter = ratelimit.None
		})
	})
	_, err = client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(spec.Table)})
	var nf *types.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("%v in region %s: describing the table: %w; check --table_region, --table_endpoint and the AWS credentials", spec, cfg.Region, err)
	}
	return true, nil
}

// opStaleAfter is the StaleAfter of the lease the command holds while it
// works: should it die meanwhile, a job may start this long after.
const opStaleAfter = 10 * time.Second

// operator returns the owner and the job description of a lease the
// command takes to do what.
func operator(what string) (owner, job string) {
	b := make([]byte, 8)
	rand.Read(b)
	host, _ := os.Hostname()
	return name + "-" + hex.EncodeToString(b), fmt.Sprintf("%s %s, host %s, pid %d", name, what, host, os.Getpid())
}

// guard holds the lease of each of streams while the command changes the
// store, so that no job starts meanwhile. A live lease is refused unless
// --force is given; then it is not taken, and is returned in held.
func (c *cmd) guard(ctx context.Context, what string, streams []string) (mine, held []checkpoint.Lease, err error) {
	app := c.o.app
	owner, job := operator(what)
	for _, stream := range streams {
		cur, ok, err := c.store.ReadLease(ctx, app, stream)
		if err != nil {
			c.unguard(mine)
			return nil, nil, fmt.Errorf("reading the lease of application %s, stream %s in %v: %w", app, stream, c.o.spec, err)
		}
		now := time.Now()
		if !ok || !cur.Live(now) {
			l, err := c.store.Acquire(ctx, checkpoint.Lease{App: app, Stream: stream, Owner: owner, Job: job, StaleAfter: opStaleAfter}, now)
			var he *checkpoint.HeldError
			switch {
			case errors.As(err, &he):
				cur, now = he.Lease, he.Now // a job took it since we looked
			case err != nil:
				c.unguard(mine)
				return nil, nil, fmt.Errorf("taking the lease of application %s, stream %s in %v: %w", app, stream, c.o.spec, err)
			default:
				mine = append(mine, l)
				continue
			}
		}
		if !c.o.force {
			c.unguard(mine)
			return nil, nil, fmt.Errorf("application %s in %v is held by a live lease on stream %s: %s.\nA job is probably running under this name: stop it first (`stop`), or pass --force to %s anyway",
				app, c.o.spec, stream, describeLease(cur, now), what)
		}
		held = append(held, cur)
	}
	return mine, held, nil
}

// unguard releases the leases that guard took.
func (c *cmd) unguard(mine []checkpoint.Lease) {
	// The command's own deadline may have passed: give the release a
	// moment of its own.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, m := range mine {
		if err := c.store.Release(ctx, m); err != nil {
			fmt.Fprintf(c.errw, "%s: warning: releasing the command's own lease of application %s, stream %s failed (a job may take the name once it is %v stale): %v\n",
				name, c.o.app, m.Stream, opStaleAfter, err)
		}
	}
}

// leaseState is live, stale or released.
func leaseState(l checkpoint.Lease, now time.Time) string {
	switch {
	case l.Owner == "":
		return "released"
	case l.Live(now):
		return "live"
	}
	return "stale"
}

// describeLease describes l for people.
func describeLease(l checkpoint.Lease, now time.Time) string {
	job := ""
	if l.Job != "" {
		job = " (" + l.Job + ")"
	}
	switch leaseState(l, now) {
	case "released":
		last := ""
		if l.Job != "" {
			last = ", last held by " + l.Job
		}
		return fmt.Sprintf("released, epoch %d%s, last heartbeat %s", l.Epoch, last, ago(now, l.Heartbeat))
	case "live":
		stop := ""
		if l.StopRequested() {
			stop = ", asked to stop"
		}
		return fmt.Sprintf("live, held by run %s%s, epoch %d, last heartbeat %s, stale after %v%s",
			l.Owner, job, l.Epoch, ago(now, l.Heartbeat), l.StaleAfter, stop)
	}
	return fmt.Sprintf("stale, held by run %s%s, epoch %d, last heartbeat %s, stale after %v",
		l.Owner, job, l.Epoch, ago(now, l.Heartbeat), l.StaleAfter)
}

// ago says how long before now t was, rounded for people.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < 0 {
		return roundDuration(-d).String() + " in the future (clock skew?)"
	}
	return roundDuration(d).String() + " ago"
}

// roundDuration rounds d to 0.1 s under a minute, to seconds under an
// hour, to minutes above.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d < time.Minute:
		return d.Round(100 * time.Millisecond)
	case d < time.Hour:
		return d.Round(time.Second)
	}
	return d.Round(time.Minute)
}

// describeCheckpoint describes cp's position for people.
func describeCheckpoint(cp checkpoint.Checkpoint) string {
	var pos string
	switch {
	case cp.Finished:
		pos = "read to its end"
	case cp.Seq == "":
		pos = "no record yet"
	default:
		pos = "after " + cp.Seq
		if cp.SubSeq != 0 {
			pos += fmt.Sprintf(" (sub-sequence %d)", cp.SubSeq)
		}
	}
	return fmt.Sprintf("%s, epoch %d", pos, cp.Epoch)
}
