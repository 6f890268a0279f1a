// Command kinesischeckpoints inspects and repairs the checkpoint stores of
// kinesisio.Read (kinesisio.WithCheckpoints): the application's lease,
// which says which job holds the application name, and the position of
// each shard.
//
// Usage:
//
//	kinesischeckpoints STORE --app NAME [flags] COMMAND [ARGS]
//
// STORE is the store the job names: --dir PATH for
// kinesisio.LocalDirectory(PATH), or --table NAME for
// kinesisio.DynamoDBTable(NAME), with --table_region, --table_endpoint,
// --profile and --role_arn/--external_id when the job gives them.
// Credentials come from the AWS default chain only (environment, shared
// config files, SSO, web identity, instance metadata); no flag takes a
// secret.
//
// The commands (flags may come before or after them):
//
//	list           print the lease and the checkpoints. With --stream, also
//	               how far behind the stream's latest record each shard is
//	               (MillisBehindLatest of one GetRecords call with Limit 1,
//	               after the checkpoint, or from TRIM_HORIZON for a shard
//	               with none), listing the shards that have no checkpoint.
//	               When the service reports no lag although a record is
//	               unread (kinesalite always reports 0), the unread records
//	               are counted instead, up to 1000.
//	reset          delete the checkpoints and release the lease under a new
//	               epoch: the next job under the name starts fresh, where
//	               its Read starts (TRIM_HORIZON, WithStartAtLatest or
//	               WithStartAtTimestamp).
//	set SHARD SEQ  make shard SHARD of --stream resume after the sequence
//	               number SEQ (decimal digits, up to 129).
//	release        release the lease, so that a new job may take the name at
//	               once instead of waiting until the lease goes stale.
//	stop           ask the job holding the name (on --stream, or on every
//	               stream) to stop gracefully: it sees the request at its
//	               next heartbeat (within 2.5 s at the default lease
//	               timeout), writes every shard's position, releases its
//	               lease and ends by itself. With --wait, wait until it
//	               has released the lease (bounded by --timeout).
//
// Each stream read under an application name has a lease of its own (one
// pipeline may read several streams under one name); list shows each,
// reset and release apply to every stream of the application.
//
// reset, set and release refuse while the lease is live (a job has
// heartbeated it recently) unless --force is given. On a lease that is not
// live they take the lease themselves, as a job would, so that no job
// starts while they work, and leave it released under a new epoch (reset
// with the checkpoints deleted), which cuts off the run that held it
// before: its next heartbeat fails, and it writes no more checkpoints;
// what it wrote before then is under an older epoch than the next job's,
// which commits over it. They ask no questions and print what they changed.
// Every command is bounded by --timeout (default 30s).
//
// Examples, on a checkpoint directory (no AWS account needed; set
// creates the store, as a job would):
//
//	kinesischeckpoints --dir ./ckpt --app orders --stream orders set shardId-000000000001 49650000000000000000000000000000000000000000000000000002
//	kinesischeckpoints --dir ./ckpt --app orders list
//	kinesischeckpoints --dir ./ckpt --app orders release
//	kinesischeckpoints --dir ./ckpt --app orders reset
//
// and on a DynamoDB table of AWS:
//
//	kinesischeckpoints --table ckpt --table_region eu-west-1 --app orders --stream orders list
//	kinesischeckpoints --table ckpt --app orders release
//
// Install the command with go install ./cmd/kinesischeckpoints, or run
// it from the repository with go run ./cmd/kinesischeckpoints.
// pipelines/wordcount/README.md runs it against kinesalite and dynalite.
// The flags are spelt as the word count's: snake_case, and the Kinesis
// connection flags prefixed kinesis_.
//
// Kinesis is reached with --kinesis_region (default: the region of a
// stream ARN, else --table_region, else the default chain) and
// --kinesis_endpoint, with the same --profile and --role_arn as the
// table. list --stream calls ListShards once and GetShardIterator and
// GetRecords once per shard that is not read to its end (GetRecords twice,
// the second with Limit 1000, when it counts the unread records): each
// GetRecords counts against the shard's limit of 5 calls a second, which
// a running job shares.
//
// Exit status: 0 on success, 1 when a command fails or is refused, 2 for
// a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
	"github.com/kinesisio/beam-kinesis/internal/cliflags"
)

const name = "kinesischeckpoints"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// options are the parsed command line.
type options struct {
	dir, table                     string
	region, endpoint               string
	profile, roleARN, externalID   string
	app                            string
	streamArg                      string
	kinesisEndpoint, kinesisRegion string
	force, wait                    bool
	timeout                        time.Duration
	command                        string
	args                           []string
	stream                         awsclient.Stream // parsed --stream
	set                            map[string]bool  // the flags given
	spec                           checkpoint.Spec
	kinesisConn                    awsclient.Settings
	shardArg, seqArg               string // of set
}

// newFlagSet returns the command's flags, bound to o.
func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.dir, "dir", "", "the checkpoint `directory` of kinesisio.LocalDirectory")
	fs.StringVar(&o.table, "table", "", "the DynamoDB `table` of kinesisio.DynamoDBTable")
	fs.StringVar(&o.region, "table_region", "", "AWS `region` of the table (default: the AWS default chain, e.g. AWS_REGION)")
	fs.StringVar(&o.endpoint, "table_endpoint", "", "DynamoDB endpoint `URL`, e.g. http://127.0.0.1:8000 (default: the region's)")
	fs.StringVar(&o.profile, "profile", "", "shared AWS config `profile`, for the table and Kinesis")
	fs.StringVar(&o.roleARN, "role_arn", "", "`ARN` of a role to assume, for the table and Kinesis")
	fs.StringVar(&o.externalID, "external_id", "", "external `ID` of the role of --role_arn")
	fs.StringVar(&o.app, "app", "", "the application `name` of kinesisio.WithCheckpoints (required)")
	fs.StringVar(&o.streamArg, "stream", "", "Kinesis stream `name or ARN` (list: show how far behind each shard is; set: required)")
	fs.StringVar(&o.kinesisEndpoint, "kinesis_endpoint", "", "Kinesis endpoint `URL`, e.g. http://127.0.0.1:4567 (default: the region's)")
	fs.StringVar(&o.kinesisRegion, "kinesis_region", "", "AWS `region` of the stream (default: the stream ARN's, else --table_region, else the default chain)")
	fs.BoolVar(&o.wait, "wait", false, "stop: wait until each job asked has stopped and released its lease (bounded by --timeout)")
	fs.BoolVar(&o.force, "force", false, "reset, set, release: go ahead even while the lease is live (a job may be running)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "bound on the whole command")
	return fs
}

const synopsis = `Usage:
  kinesischeckpoints (--dir PATH | --table NAME [--table_region R] [--table_endpoint URL]) --app NAME [flags] COMMAND [ARGS]

Commands:
  list            print the application's lease and checkpoints; with --stream,
                  also how far behind the latest record each shard is
  reset           delete the checkpoints and release the lease under a new epoch
                  (the next job starts fresh)
  set SHARD SEQ   make shard SHARD of --stream resume after sequence number SEQ
  release         release the lease so that a new job may start at once
  stop            ask the running job to stop gracefully (final positions
                  written, lease released); --wait waits until it has

reset, set and release refuse while the lease is live unless --force is given.
Credentials come from the AWS default chain. Exit status: 0 ok, 1 failure, 2 usage.
`

// usage writes the synopsis and the flags to w.
func usage(w io.Writer) {
	var o options
	fs := newFlagSet(&o)
	fmt.Fprint(w, synopsis)
	fmt.Fprintln(w, "\nFlags:")
	cliflags.PrintAll(w, fs)
}

// usageError is a command line that cannot run (exit status 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// run runs the command line args (without the program's name) and returns
// the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		usage(stdout)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\nRun '%s -h' for usage.\n", name, err, name)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	c := &cmd{o: o, out: stdout, errw: stderr}
	err = c.run(ctx)
	if err == nil {
		return exitOK
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%w (the command's --timeout of %v passed)", err, o.timeout)
	}
	fmt.Fprintf(stderr, "%s: %s: %v\n", name, o.command, err)
	return exitFailure
}

// parseArgs parses and checks the command line. Flags may come before
// and after the command and its arguments; "--" ends the flags.
func parseArgs(args []string) (*options, error) {
	o := &options{}
	fs := newFlagSet(o)
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{msg: err.Error()}
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	o.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	if len(pos) == 0 {
		return nil, usagef("no command: want list, stop, reset, set or release")
	}
	o.command, o.args = pos[0], pos[1:]
	if o.command == "help" {
		return nil, flag.ErrHelp
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	return o, nil
}

var (
	// seqRE is a Kinesis sequence number, as the API's pattern has it.
	seqRE = regexp.MustCompile(`^(0|[1-9][0-9]{0,128})$`)
	// shardRE is a shard ID the stores accept.
	shardRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)
)

// check validates the options and derives the store's Spec and the
// Kinesis settings.
func (o *options) check() error {
	want := map[string]int{"list": 0, "reset": 0, "release": 0, "set": 2, "stop": 0}
	n, ok := want[o.command]
	if !ok {
		return usagef("unknown command %q: want list, stop, reset, set or release", o.command)
	}
	if len(o.args) != n {
		if o.command == "set" {
			return usagef("set wants two arguments, SHARD and SEQ, not %d", len(o.args))
		}
		return usagef("%s takes no arguments (got %q)", o.command, strings.Join(o.args, " "))
	}
	if o.app == "" {
		return usagef("--app is required: the application name the job gives kinesisio.WithCheckpoints")
	}
	if err := checkpoint.ValidateApp(o.app); err != nil {
		return usagef("--app: %v", err)
	}
	if o.timeout <= 0 {
		return usagef("--timeout %v is not positive", o.timeout)
	}
	if err := o.checkStore(); err != nil {
		return err
	}
	if err := o.checkKinesis(); err != nil {
		return err
	}
	if o.command == "set" {
		o.shardArg, o.seqArg = o.args[0], o.args[1]
		if !shardRE.MatchString(o.shardArg) || o.shardArg == "." || o.shardArg == ".." {
			return usagef("set: invalid shard ID %q: want 1 to 128 of [a-zA-Z0-9_.-], such as shardId-000000000000", o.shardArg)
		}
		if !seqRE.MatchString(o.seqArg) {
			return usagef("set: invalid sequence number %q: want decimal digits (up to 129, no leading zero)", o.seqArg)
		}
	}
	return nil
}

// checkStore checks the flags that name the store.
func (o *options) checkStore() error {
	conn := awsclient.Settings{Profile: o.profile, RoleARN: o.roleARN, ExternalID: o.externalID, SessionName: name}
	if o.roleARN != "" && (len(o.roleARN) < 20 || !strings.HasPrefix(o.roleARN, "arn:")) {
		return usagef("--role_arn %q is not a role ARN", o.roleARN)
	}
	if o.externalID != "" && o.roleARN == "" {
		return usagef("--external_id needs --role_arn")
	}
	switch {
	case o.set["dir"] && o.set["table"]:
		return usagef("give --dir or --table, not both")
	case o.set["dir"]:
		if o.dir == "" {
			return usagef("--dir: empty path")
		}
		for _, f := range []string{"region", "endpoint"} {
			if o.set["table_"+f] {
				return usagef("--table_%s names the DynamoDB table's %s, and --dir names a directory (for Kinesis use --kinesis_%s)", f, f, f)
			}
		}
		o.spec = checkpoint.Spec{Kind: checkpoint.Dir, Path: o.dir}
	case o.set["table"]:
		conn.Region, conn.Endpoint = o.region, o.endpoint
		o.spec = checkpoint.Spec{Kind: checkpoint.DynamoDB, Table: o.table, Conn: conn}
	default:
		return usagef("no store: give --dir PATH (kinesisio.LocalDirectory) or --table NAME (kinesisio.DynamoDBTable)")
	}
	if err := o.spec.Validate(); err != nil {
		return &usageError{msg: err.Error()}
	}
	return nil
}

// checkKinesis checks --stream and the flags that reach Kinesis.
func (o *options) checkKinesis() error {
	if !o.set["stream"] {
		for _, f := range []string{"kinesis_endpoint", "kinesis_region"} {
			if o.set[f] {
				return usagef("--%s needs --stream", f)
			}
		}
		if o.command == "set" {
			return usagef("set needs --stream: the stream whose shard it sets")
		}
		return nil
	}
	if o.command == "reset" || o.command == "release" {
		return usagef("%s applies to the whole application, every stream: --stream does not apply", o.command)
	}
	st, err := awsclient.ParseStream(o.streamArg)
	if err != nil {
		return usagef("--stream: %v", err)
	}
	o.stream = st
	region := o.kinesisRegion
	switch {
	case st.Region != "" && region != "" && region != st.Region:
		return usagef("--kinesis_region %s differs from the region %s of the stream ARN", region, st.Region)
	case region == "" && st.Region != "":
		region = st.Region
	case region == "":
		region = o.region
	}
	o.kinesisConn = awsclient.Settings{
		Region: region, Endpoint: o.kinesisEndpoint,
		Profile: o.profile, RoleARN: o.roleARN, ExternalID: o.externalID, SessionName: name,
	}
	return nil
}
