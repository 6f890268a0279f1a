package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
)

// behindWorkers bounds the shards measured at once by list --stream.
const behindWorkers = 8

// behindCountLimit bounds the records list -stream counts in a shard
// whose MillisBehindLatest is 0 while records are unread: the Limit of
// its one extra GetRecords call.
const behindCountLimit = 1000

// row is one line of list's table.
type row struct {
	stream, shard string
	cp            *checkpoint.Checkpoint // nil: a shard of --stream with none
	parents       []string
	behind        string // with --stream
}

// list prints the lease and the checkpoints.
func (c *cmd) list(ctx context.Context) error {
	app, spec := c.o.app, c.o.spec
	leases, err := c.store.Leases(ctx, app)
	if err != nil {
		return fmt.Errorf("reading the leases of application %s in %v: %w", app, spec, err)
	}
	cps, err := c.store.Load(ctx, app, c.o.stream.Name)
	if err != nil {
		return fmt.Errorf("loading the checkpoints of application %s in %v: %w", app, spec, err)
	}
	now := time.Now()
	fmt.Fprintf(c.out, "application %s in %v\n", app, spec)
	shown := 0
	for _, l := range leases {
		if c.o.stream.Name == "" || l.Stream == c.o.stream.Name {
			fmt.Fprintf(c.out, "lease of stream %s: %s\n", l.Stream, describeLease(l, now))
			shown++
		}
	}
	if shown == 0 {
		fmt.Fprintf(c.out, "lease: none (no job has taken this name yet)\n")
	}
	rows := make([]row, len(cps))
	for i := range cps {
		rows[i] = row{stream: cps[i].Stream, shard: cps[i].ShardID, cp: &cps[i], parents: cps[i].Parents}
	}
	var measureErr error
	withBehind := c.o.stream.Name != ""
	if withBehind {
		rows, measureErr = c.measure(ctx, rows)
	}
	what := "checkpoints"
	if withBehind {
		what = "checkpoints of stream " + c.o.stream.Name
	}
	fmt.Fprintf(c.out, "%s: %d\n", what, len(cps))
	if len(rows) > 0 {
		printRows(c.out, rows, withBehind, now)
	}
	if withBehind && len(rows) > len(cps) {
		fmt.Fprintf(c.out, "Shards without a checkpoint (SEQUENCE -) are measured from TRIM_HORIZON.\n")
	}
	return measureErr
}

// printRows prints rows as a table.
func printRows(w io.Writer, rows []row, withBehind bool, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "STREAM\tSHARD\tSEQUENCE\tSUBSEQ\tFINISHED\tPARENTS\tUPDATED\tEPOCH"
	if withBehind {
		head += "\tBEHIND"
	}
	fmt.Fprintln(tw, head)
	for _, r := range rows {
		seq, subSeq, finished, updated, epoch := "-", "-", "-", "-", "-"
		if cp := r.cp; cp != nil {
			if cp.Seq != "" {
				seq = cp.Seq
			}
			subSeq = fmt.Sprint(cp.SubSeq)
			finished = fmt.Sprint(cp.Finished)
			updated = ago(now, cp.Updated)
			epoch = fmt.Sprint(cp.Epoch)
		}
		parents := "-"
		if len(r.parents) > 0 {
			parents = strings.Join(r.parents, ",")
		}
		line := strings.Join([]string{r.stream, r.shard, seq, subSeq, finished, parents, updated, epoch}, "\t")
		if withBehind {
			line += "\t" + r.behind
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
}

// measure lists the shards of --stream, adds a row for each shard without
// a checkpoint, and fills in how far behind the latest record each is.
// Shards that could not be measured say so in their row, and make the
// returned error.
func (c *cmd) measure(ctx context.Context, rows []row) ([]row, error) {
	stream := c.o.stream
	client, err := awsclient.New(ctx, c.o.kinesisConn)
	if err != nil {
		return rows, fmt.Errorf("stream %v: %w", stream, err)
	}
	shards, err := awsclient.ListShards(ctx, retryingLister{client}, stream, nil, 0)
	if err != nil {
		for i := range rows {
			rows[i].behind = "?"
			if rows[i].cp.Finished {
				rows[i].behind = "read to end"
			}
		}
		return rows, fmt.Errorf("listing the shards of stream %v: %w; check --stream, --kinesis_region, --kinesis_endpoint and the AWS credentials", stream, err)
	}
	listed := map[string]types.Shard{}
	for _, s := range shards {
		listed[aws.ToString(s.ShardId)] = s
	}
	have := map[string]bool{}
	for _, r := range rows {
		have[r.shard] = true
	}
	for _, s := range shards {
		if id := aws.ToString(s.ShardId); !have[id] {
			rows = append(rows, row{stream: stream.Name, shard: id, parents: awsclient.ParentIDs(s)})
		}
	}
	slices.SortFunc(rows, func(a, b row) int {
		switch {
		case awsclient.ShardIDLess(a.shard, b.shard):
			return -1
		case awsclient.ShardIDLess(b.shard, a.shard):
			return 1
		}
		return 0
	})

	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, behindWorkers)
	)
	for i := range rows {
		r := &rows[i]
		switch {
		case r.cp != nil && r.cp.Finished:
			r.behind = "read to end"
			continue
		case r.cp != nil && listed[r.shard].ShardId == nil:
			r.behind = "not listed" // expired or not of this stream
			continue
		}
		seq := ""
		if r.cp != nil {
			seq = r.cp.Seq
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			b, err := behindLatest(ctx, client, stream, r.shard, seq)
			if err != nil {
				b = "error"
				mu.Lock()
				errs = append(errs, fmt.Errorf("shard %s: %w", r.shard, err))
				mu.Unlock()
			}
			r.behind = b
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return rows, fmt.Errorf("measuring how far behind the shards of stream %v are: %w", stream, errors.Join(errs...))
	}
	return rows, nil
}

// withRetries gives one call of a Kinesis client of awsclient.New, which
// retries nothing itself, the SDK's standard retries.
func withRetries(o *kinesis.Options) {
	o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = 3
		so.MaxBackoff = time.Second
		so.RateLimiter = ratelimit.None
	})
}

// retryingLister is a ShardLister whose calls retry (withRetries).
type retryingLister struct{ c *kinesis.Client }

func (l retryingLister) ListShards(ctx context.Context, in *kinesis.ListShardsInput, opts ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	return l.c.ListShards(ctx, in, append(opts, withRetries)...)
}

// behindLatest reads one record of shard after seq (from TRIM_HORIZON
// when seq is "") and says how far behind the latest record that is:
// MillisBehindLatest as a duration, or "caught up". When the service
// reports no lag (0) although a record is unread, as kinesalite always
// does, one more GetRecords call (Limit behindCountLimit) counts the
// unread records: "N records unread (the service gives no time lag)", or
// "over N records unread ..." past the bound.
func behindLatest(ctx context.Context, client *kinesis.Client, stream awsclient.Stream, shard, seq string) (string, error) {
	sname, arn := stream.Ref()
	in := &kinesis.GetShardIteratorInput{StreamName: sname, StreamARN: arn, ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon}
	if seq != "" {
		in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
		in.StartingSequenceNumber = aws.String(seq)
	}
	it, err := client.GetShardIterator(ctx, in, withRetries)
	if err != nil {
		return "", fmt.Errorf("GetShardIterator %s: %w", in.ShardIteratorType, err)
	}
	if it.ShardIterator == nil {
		return "closed, at end", nil
	}
	out, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator, StreamARN: arn, Limit: aws.Int32(1)}, withRetries)
	if err != nil {
		return "", fmt.Errorf("GetRecords: %w", err)
	}
	switch {
	case len(out.Records) == 0 && out.NextShardIterator == nil:
		return "closed, at end", nil
	case out.MillisBehindLatest == nil:
		return "?", nil
	case *out.MillisBehindLatest == 0 && len(out.Records) == 0:
		return "caught up", nil
	case *out.MillisBehindLatest == 0:
		return countUnread(ctx, client, arn, out)
	}
	d := roundDuration(time.Duration(*out.MillisBehindLatest) * time.Millisecond)
	return d.String(), nil
}

// countUnread counts the records of a shard from first, a GetRecords
// answer that holds records and says MillisBehindLatest 0, with one more
// GetRecords call of at most behindCountLimit records.
func countUnread(ctx context.Context, client *kinesis.Client, arn *string, first *kinesis.GetRecordsOutput) (string, error) {
	const noLag = " unread (the service gives no time lag)"
	n := len(first.Records)
	if first.NextShardIterator == nil { // a closed shard's last records
		return plural(n, "record") + noLag, nil
	}
	out, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: first.NextShardIterator, StreamARN: arn, Limit: aws.Int32(behindCountLimit)}, withRetries)
	if err != nil {
		return "", fmt.Errorf("GetRecords: %w", err)
	}
	if out.MillisBehindLatest != nil && *out.MillisBehindLatest > 0 {
		// Records arrived meanwhile, and the service measures them.
		return roundDuration(time.Duration(*out.MillisBehindLatest) * time.Millisecond).String(), nil
	}
	if len(out.Records) >= behindCountLimit {
		return fmt.Sprintf("over %d records", behindCountLimit) + noLag, nil
	}
	return plural(n+len(out.Records), "record") + noLag, nil
}

// plural is "1 record", "2 records".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
