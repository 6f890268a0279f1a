package restriction

import (
	"fmt"

	"github.com/kinesisio/beam-kinesis/internal/seqnum"
)

// Restriction is the part of one shard that a DoFn invocation owns: the
// records from Start on, up to and including End when End is set.
//
// End and EndSub name the last user record included: the Kinesis record
// End, up to its user record EndSub (0 for a plain record).
//
// An unbounded restriction (End == "" and !Bounded) grows as the shard
// grows. A bounded one ends at End; a bounded one with End == "" and Empty
// set holds no record at all (the primary of a checkpoint that claimed
// nothing).
//
// A closing restriction (Closing set) holds no record either: the read of
// the shard stopped after the record before Start (at the shard's end when
// ShardEnded is set), and what is left is to record that in the
// checkpoint store once the runner has committed the bundle that claimed
// those records, which it has when it hands this residual back.
type Restriction struct {
	ShardID    string
	Start      Position
	End        string // inclusive last sequence number; "" = none known
	EndSub     int64  // with End: inclusive last sub-sequence number
	Bounded    bool
	Empty      bool
	Closing    bool
	ShardEnded bool
}

// Validate reports a malformed restriction.
func (r Restriction) Validate() error {
	if r.ShardID == "" {
		return fmt.Errorf("restriction without shard ID")
	}
	if err := r.Start.Validate(); err != nil {
		return fmt.Errorf("shard %s: %w", r.ShardID, err)
	}
	if r.Start.Kind == Latest {
		return fmt.Errorf("shard %s: LATEST not pinned to a time", r.ShardID)
	}
	if r.End != "" && !seqnum.Valid(r.End) {
		return fmt.Errorf("shard %s: invalid end sequence number %q", r.ShardID, r.End)
	}
	if r.EndSub < 0 {
		return fmt.Errorf("shard %s: invalid end sub-sequence number %d", r.ShardID, r.EndSub)
	}
	return nil
}

// String describes the restriction for logs and errors.
func (r Restriction) String() string {
	switch {
	case r.Closing && r.ShardEnded:
		return fmt.Sprintf("%s[closing at the end, after %v]", r.ShardID, r.Start)
	case r.Closing:
		return fmt.Sprintf("%s[closing, at %v]", r.ShardID, r.Start)
	case r.Empty:
		return r.ShardID + "[empty]"
	case r.End != "" && r.EndSub > 0:
		return fmt.Sprintf("%s[%v, %s sub-sequence %d]", r.ShardID, r.Start, r.End, r.EndSub)
	case r.End != "":
		return fmt.Sprintf("%s[%v, %s]", r.ShardID, r.Start, r.End)
	case r.Bounded:
		return fmt.Sprintf("%s[%v, end of shard]", r.ShardID, r.Start)
	}
	return fmt.Sprintf("%s[%v, ∞)", r.ShardID, r.Start)
}
