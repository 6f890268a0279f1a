// Command fakekinesis serves the in-process Kinesis fake of package
// testing/fakekinesis as a standalone server until SIGINT or SIGTERM.
//
// Usage:
//
//	fakekinesis [--addr 127.0.0.1:4568] [--quotas] [--region us-east-1]
//	    [--account 000000000000] [--iterator_ttl 5m] [--shard_limit 500]
//	    [--subscription 5m]
//
// It prints the endpoint on standard output once it listens.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kinesisio/beam-kinesis/testing/fakekinesis"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:4568", "listen address")
	quotas := flag.Bool("quotas", false, "enforce per-shard throughput limits")
	region := flag.String("region", "us-east-1", "region used in ARNs")
	account := flag.String("account", "000000000000", "account ID used in ARNs")
	ttl := flag.Duration("iterator_ttl", 5*time.Minute, "shard iterator lifetime")
	shards := flag.Int("shard_limit", 500, "open-shard limit of the account")
	sub := flag.Duration("subscription", 5*time.Minute, "SubscribeToShard lifetime")
	flag.Parse()

	srv, err := fakekinesis.NewServer(
		fakekinesis.WithAddr(*addr), fakekinesis.WithQuotas(*quotas),
		fakekinesis.WithRegion(*region), fakekinesis.WithAccountID(*account),
		fakekinesis.WithIteratorTTL(*ttl), fakekinesis.WithShardLimit(*shards),
		fakekinesis.WithSubscriptionDuration(*sub),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(srv.Endpoint())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	srv.Close()
}
