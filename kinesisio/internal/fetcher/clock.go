package fetcher

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
)

// MaxClockAhead is how far ahead of the service's clock an AT_TIMESTAMP
// start may be and still be waited for: LATEST is pinned to the worker's
// clock at the job's start, and Kinesis refuses an iterator at a time its
// own clock has not reached. It is the clock skew AWS's request signing
// tolerates before the SDK has to correct for it: a worker clock further
// ahead is a misconfiguration to report, not to wait out for minutes. A
// timestamp further ahead fails the read, naming both clocks.
const MaxClockAhead = 5 * time.Minute

// clockWait follows the refusals of an AT_TIMESTAMP iterator whose
// timestamp is ahead of the service's clock.
type clockWait struct {
	refusals int
	first    time.Time // when the first refusal came
	service  time.Time // the service's clock at the last refusal, if known
}

// refused takes a refusal of pos at now and returns how long to wait
// before asking again, or the error that ends the read: the timestamp is
// more than MaxClockAhead ahead of the service's clock, or, when the
// service does not say its time, refusals went on for MaxClockAhead.
func (c *clockWait) refused(pos restriction.Position, err error, now time.Time) (time.Duration, error) {
	c.refusals++
	if c.first.IsZero() {
		c.first = now
	}
	c.service = serviceClock(err)
	if !c.service.IsZero() {
		gap := pos.Time().Sub(c.service)
		if gap > MaxClockAhead {
			return 0, fmt.Errorf("start position %v is %v ahead of the Kinesis clock (%s), more than the %v of clock difference Read waits for: check the start position (AtTimestamp) and the workers' clocks: %w",
				pos, gap.Round(time.Millisecond), c.clock(), MaxClockAhead, err)
		}
		return max(gap, 10*time.Millisecond), nil
	}
	if now.Sub(c.first) > MaxClockAhead {
		return 0, fmt.Errorf("start position %v refused by Kinesis as ahead of its clock for %v (its clock unknown; this worker's is %s): check the start position (AtTimestamp) and the workers' clocks: %w",
			pos, now.Sub(c.first).Round(time.Second), now.UTC().Format(time.RFC3339Nano), err)
	}
	return time.Second, nil
}

// clock describes the service's clock as last seen.
func (c *clockWait) clock() string {
	if c.service.IsZero() {
		return "not given"
	}
	return c.service.UTC().Format(time.RFC3339Nano)
}

var currentMillisRE = regexp.MustCompile(`currentTimestampInMillis: *(\d+)`)

// serviceClock returns the service's clock as a refusal gives it: the
// currentTimestampInMillis of Kinesis's message (kinesalite copies it), or
// the response's Date header (to the second), or zero.
func serviceClock(err error) time.Time {
	var inv *types.InvalidArgumentException
	if errors.As(err, &inv) {
		if m := currentMillisRE.FindStringSubmatch(inv.ErrorMessage()); m != nil {
			if ms, perr := strconv.ParseInt(m[1], 10, 64); perr == nil {
				return time.UnixMilli(ms)
			}
		}
	}
	var resp *smithyhttp.ResponseError
	if errors.As(err, &resp) && resp.Response != nil {
		if t, perr := http.ParseTime(resp.Response.Header.Get("Date")); perr == nil {
			return t
		}
	}
	return time.Time{}
}

// timestampAhead reports the InvalidArgumentException Kinesis returns for
// an AT_TIMESTAMP iterator whose timestamp is ahead of its own clock.
func timestampAhead(pos restriction.Position, err error) bool {
	var inv *types.InvalidArgumentException
	return pos.Kind == restriction.AtTimestamp && errors.As(err, &inv) &&
		strings.Contains(strings.ToLower(inv.ErrorMessage()), "timestamp")
}
