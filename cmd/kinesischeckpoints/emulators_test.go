package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/kinesisio/beam-kinesis/internal/procid"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

func TestDynamoDBTable(t *testing.T) {
	emu := emulators.Require(t, emulators.Dynalite)
	ctx := context.Background()
	table := fmt.Sprintf("ckpt-cmd-%08x", rand.Uint32())
	flags := []string{"--table", table, "--table_region", "us-east-1", "--table_endpoint", emu.Endpoint, "--app", app}

	// A table that does not exist is not created by list.
	r := runCmd(t, append(flags, "list")...)
	r.wantCode(t, exitFailure)
	r.wantErr(t, "DynamoDB table "+table+" ("+emu.Endpoint+") does not exist")
	r = runCmd(t, append(flags, "list")...)
	r.wantErr(t, "does not exist")

	spec := checkpoint.Spec{Kind: checkpoint.DynamoDB, Table: table, Conn: awsclient.Settings{Region: "us-east-1", Endpoint: emu.Endpoint}}
	st, err := checkpoint.Open(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l := fill(t, st, leaseLive)

	r = runCmd(t, append(flags, "list")...)
	r.wantCode(t, exitOK)
	r.wantOut(t, "application orders in DynamoDB table "+table+" ("+emu.Endpoint+")",
		"lease of stream "+stream+": live, held by run run-1", "checkpoints: 3", shard0+"  "+seq0, shard0+","+shard1)

	r = runCmd(t, append(flags, "--stream", stream, "set", shard0, "77")...)
	r.wantCode(t, exitFailure)
	r.wantErr(t, "held by a live lease")

	r = runCmd(t, append(flags, "--force", "release")...)
	r.wantCode(t, exitOK)
	r.wantOut(t, "it was live, held by run run-1")
	if _, err := st.Heartbeat(ctx, l, procid.Self(), time.Now()); !errors.Is(err, checkpoint.ErrLeaseLost) {
		t.Errorf("heartbeat of the released run: %v, want ErrLeaseLost", err)
	}

	r = runCmd(t, append(flags, "--stream", stream, "set", shard0, "77")...)
	r.wantCode(t, exitOK)
	got, err := st.Get(ctx, app, stream, []string{shard0})
	if err != nil {
		t.Fatal(err)
	}
	if cp := got[shard0]; cp.Seq != "77" || cp.Epoch != 3 {
		t.Errorf("after set: %+v; want seq 77 under epoch 3", cp)
	}

	r = runCmd(t, append(flags, "reset")...)
	r.wantCode(t, exitOK)
	r.wantOut(t, "released the lease under a new epoch: released, epoch 5", "it was released, epoch 3",
		"deleted 3 checkpoints:", "shard "+shard0+": after 77, epoch 3")
	cps, err := st.Load(ctx, app, "")
	if err != nil || len(cps) != 0 {
		t.Errorf("after reset: %v, %v; want none", cps, err)
	}
	// The command took the lease (epoch 4); Reset released it under 5.
	if cur, ok, err := st.ReadLease(ctx, app, stream); !ok || err != nil || cur.Owner != "" || cur.Epoch != 5 {
		t.Errorf("after reset: lease %+v, %v, %v; want released under epoch 5", cur, ok, err)
	}

	// An endpoint with nothing behind it fails quickly, naming the table.
	r = runCmd(t, "--table", table, "--table_endpoint", "http://127.0.0.1:1", "--app", app, "--timeout", "10s", "list")
	r.wantCode(t, exitFailure)
	r.wantErr(t, "DynamoDB table "+table+" (http://127.0.0.1:1)", "describing the table")
}

func TestListBehindLatest(t *testing.T) {
	emu := emulators.Require(t, emulators.Kinesalite)
	ctx := context.Background()
	client := kinesistest.NewClient(emu.Endpoint)
	name := kinesistest.StreamName(t)
	if _, err := kinesistest.CreateStream(ctx, client, name, 4); err != nil {
		t.Fatal(err)
	}
	shards, err := kinesistest.Shards(ctx, client, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(shards) != 4 {
		t.Fatalf("%d shards, want 4", len(shards))
	}
	id := func(i int) string { return aws.ToString(shards[i].ShardId) }
	puts, err := kinesistest.PutToShard(ctx, client, name, id(0), [][]byte{[]byte("a"), []byte("b"), []byte("c")})
	if err != nil {
		t.Fatal(err)
	}
	last, err := kinesistest.PutToShard(ctx, client, name, id(1), [][]byte{[]byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	many := make([][]byte, behindCountLimit+5)
	for i := range many {
		many[i] = []byte("m")
	}
	if _, err := kinesistest.PutToShard(ctx, client, name, id(3), many); err != nil {
		t.Fatal(err)
	}

	// Shard 0 is checkpointed at its first record (two more follow),
	// shard 1 at its last, shards 2 (empty) and 3 (more records than
	// list counts) have no checkpoint, and a shard the stream does not
	// have is left over from elsewhere.
	st, path := dirStore(t)
	l, err := st.Acquire(ctx, checkpoint.Lease{App: app, Stream: name, Owner: "run-1", Job: "", StaleAfter: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range []checkpoint.Checkpoint{
		{Stream: name, ShardID: id(0), Seq: puts[0].SequenceNumber},
		{Stream: name, ShardID: id(1), Seq: last[0].SequenceNumber},
		{Stream: name, ShardID: "shardId-000000000099", Seq: "5"},
		{Stream: "another", ShardID: id(0), Seq: "5"},
	} {
		if cp.Stream != l.Stream {
			if l, err = st.Acquire(ctx, checkpoint.Lease{App: app, Stream: cp.Stream, Owner: "run-1", StaleAfter: time.Hour}, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Commit(ctx, l, cp); err != nil {
			t.Fatal(err)
		}
	}

	r := runCmd(t, "--dir", path, "--app", app, "--stream", name, "--kinesis_endpoint", emu.Endpoint, "list")
	r.wantCode(t, exitOK)
	r.wantOut(t, "checkpoints of stream "+name+": 3", "Shards without a checkpoint (SEQUENCE -) are measured from TRIM_HORIZON.")
	if strings.Contains(r.stdout, "another") {
		t.Errorf("list --stream shows another stream:\n%s", r.stdout)
	}
	rows := map[string][]string{}
	var header []string
	for _, line := range strings.Split(r.stdout, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 0 && f[0] == "STREAM":
			header = f
		case len(f) > 1 && f[0] == name:
			rows[f[1]] = f
		}
	}
	if len(header) != 9 || header[8] != "BEHIND" {
		t.Fatalf("header %q, want a BEHIND column", header)
	}
	// kinesalite always reports MillisBehindLatest 0: the unread records
	// are counted instead (up to behindCountLimit).
	for shard, want := range map[string]string{
		id(0):                  "2 records unread (the service gives no time lag)",
		id(1):                  "caught up",
		id(2):                  "caught up",
		id(3):                  fmt.Sprintf("over %d records unread (the service gives no time lag)", behindCountLimit),
		"shardId-000000000099": "not listed",
	} {
		f, ok := rows[shard]
		if !ok {
			t.Errorf("no row for shard %s", shard)
			continue
		}
		line := strings.Join(f, " ")
		if !strings.HasSuffix(line, " "+want) {
			t.Errorf("shard %s: %q, want BEHIND %q", shard, line, want)
		}
	}
	if f := rows[id(2)]; len(f) < 3 || f[2] != "-" {
		t.Errorf("shard %s without a checkpoint: %q", id(2), f)
	}

	// A stream the endpoint does not have fails, naming it.
	r = runCmd(t, "--dir", path, "--app", app, "--stream", "nosuchstream", "--kinesis_endpoint", emu.Endpoint, "list")
	r.wantCode(t, exitFailure)
	r.wantErr(t, "listing the shards of stream nosuchstream")
	r.wantOut(t, "lease: none")
}
