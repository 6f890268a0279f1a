package bench

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
)

// Profile is a pprof profile as ParseProfile reads it: enough to split
// CPU time by label and by stack, not a full profile.proto model.
type Profile struct {
	// SampleTypes names each value of a sample ("samples", "cpu", ...).
	SampleTypes []string
	Samples     []Sample
	// DurationNanos is how long the profile was collected.
	DurationNanos int64
}

// Sample is one stack with its values.
type Sample struct {
	// Stack holds function names, innermost first, inlined calls
	// expanded.
	Stack  []string
	Values []int64
	// Labels holds the string labels of the goroutine (pprof.Do).
	Labels map[string]string
}

// Has reports whether any frame of the stack contains substr.
func (s Sample) Has(substr string) bool {
	for _, f := range s.Stack {
		if strings.Contains(f, substr) {
			return true
		}
	}
	return false
}

// ValueIndex returns the index of the sample value named typ, or -1.
func (p *Profile) ValueIndex(typ string) int {
	return slices.Index(p.SampleTypes, typ)
}

// Total sums value idx over the samples keep accepts (nil: all).
func (p *Profile) Total(idx int, keep func(Sample) bool) int64 {
	var t int64
	for _, s := range p.Samples {
		if keep == nil || keep(s) {
			t += s.Values[idx]
		}
	}
	return t
}

// FuncStat is a function's share of a profile.
type FuncStat struct {
	Name string
	// Flat is the value of samples in which the function is the
	// innermost frame; Cum of those in which it appears at all.
	Flat, Cum int64
}

// Top returns the functions of the samples keep accepts (nil: all),
// sorted by flat value (byCum: by cumulative value), at most n of them.
func (p *Profile) Top(idx int, keep func(Sample) bool, n int, byCum bool) []FuncStat {
	stats := map[string]*FuncStat{}
	get := func(name string) *FuncStat {
		st := stats[name]
		if st == nil {
			st = &FuncStat{Name: name}
			stats[name] = st
		}
		return st
	}
	for _, s := range p.Samples {
		if keep != nil && !keep(s) || len(s.Stack) == 0 {
			continue
		}
		v := s.Values[idx]
		get(s.Stack[0]).Flat += v
		seen := map[string]bool{}
		for _, f := range s.Stack {
			if !seen[f] {
				seen[f] = true
				get(f).Cum += v
			}
		}
	}
	out := make([]FuncStat, 0, len(stats))
	for _, st := range stats {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		ka, kb := a.Flat, b.Flat
		if byCum {
			ka, kb = a.Cum, b.Cum
		}
		if ka != kb {
			return ka > kb
		}
		return a.Name < b.Name
	})
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// ParseProfile reads a profile as runtime/pprof writes it (gzipped or
// not).
func ParseProfile(data []byte) (*Profile, error) {
	if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("bench: profile: %w", err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("bench: profile: %w", err)
		}
	}
	var (
		strs        []string
		sampleTypes [][2]int64
		rawSamples  []rawSample
		locs        = map[uint64][]uint64{} // location -> function ids, innermost first
		funcs       = map[uint64]int64{}    // function -> name string index
		duration    int64
	)
	err := fields(data, func(num int, wire int, v uint64, b []byte) error {
		switch num {
		case 1: // sample_type
			var vt [2]int64
			err := fields(b, func(n, _ int, v uint64, _ []byte) error {
				if n == 1 || n == 2 {
					vt[n-1] = int64(v)
				}
				return nil
			})
			sampleTypes = append(sampleTypes, vt)
			return err
		case 2: // sample
			s, err := parseSample(b)
			rawSamples = append(rawSamples, s)
			return err
		case 4: // location
			var id uint64
			var fns []uint64
			err := fields(b, func(n, _ int, v uint64, b []byte) error {
				switch n {
				case 1:
					id = v
				case 4: // line
					return fields(b, func(n, _ int, v uint64, _ []byte) error {
						if n == 1 {
							fns = append(fns, v)
						}
						return nil
					})
				}
				return nil
			})
			locs[id] = fns
			return err
		case 5: // function
			var id uint64
			var name int64
			err := fields(b, func(n, _ int, v uint64, _ []byte) error {
				switch n {
				case 1:
					id = v
				case 2:
					name = int64(v)
				}
				return nil
			})
			funcs[id] = name
			return err
		case 6: // string_table
			strs = append(strs, string(b))
		case 10:
			duration = int64(v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	str := func(i int64) string {
		if i >= 0 && int(i) < len(strs) {
			return strs[i]
		}
		return ""
	}
	p := &Profile{DurationNanos: duration}
	for _, vt := range sampleTypes {
		p.SampleTypes = append(p.SampleTypes, str(vt[0]))
	}
	for _, rs := range rawSamples {
		s := Sample{Values: rs.values}
		for _, l := range rs.locs {
			for _, f := range locs[l] {
				s.Stack = append(s.Stack, str(funcs[f]))
			}
		}
		for _, l := range rs.labels {
			if l[1] != 0 {
				if s.Labels == nil {
					s.Labels = map[string]string{}
				}
				s.Labels[str(l[0])] = str(l[1])
			}
		}
		if len(s.Values) < len(p.SampleTypes) {
			s.Values = append(s.Values, make([]int64, len(p.SampleTypes)-len(s.Values))...)
		}
		p.Samples = append(p.Samples, s)
	}
	return p, nil
}

type rawSample struct {
	locs   []uint64
	values []int64
	labels [][2]int64 // key, str
}

func parseSample(b []byte) (rawSample, error) {
	var s rawSample
	err := fields(b, func(n, wire int, v uint64, b []byte) error {
		switch n {
		case 1:
			if wire == 2 {
				return packed(b, func(v uint64) { s.locs = append(s.locs, v) })
			}
			s.locs = append(s.locs, v)
		case 2:
			if wire == 2 {
				return packed(b, func(v uint64) { s.values = append(s.values, int64(v)) })
			}
			s.values = append(s.values, int64(v))
		case 3:
			var l [2]int64
			err := fields(b, func(n, _ int, v uint64, _ []byte) error {
				if n == 1 || n == 2 {
					l[n-1] = int64(v)
				}
				return nil
			})
			s.labels = append(s.labels, l)
			return err
		}
		return nil
	})
	return s, err
}

var errProto = errors.New("bench: malformed profile")

// fields calls f for each field of the protobuf message b: for varints v
// is the value, for length-delimited fields b the bytes.
func fields(b []byte, f func(num, wire int, v uint64, b []byte) error) error {
	for len(b) > 0 {
		key, n := uvarint(b)
		if n <= 0 {
			return errProto
		}
		b = b[n:]
		num, wire := int(key>>3), int(key&7)
		switch wire {
		case 0:
			v, n := uvarint(b)
			if n <= 0 {
				return errProto
			}
			b = b[n:]
			if err := f(num, wire, v, nil); err != nil {
				return err
			}
		case 1:
			if len(b) < 8 {
				return errProto
			}
			b = b[8:]
		case 2:
			l, n := uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return errProto
			}
			if err := f(num, wire, 0, b[n:n+int(l)]); err != nil {
				return err
			}
			b = b[n+int(l):]
		case 5:
			if len(b) < 4 {
				return errProto
			}
			b = b[4:]
		default:
			return errProto
		}
	}
	return nil
}

func packed(b []byte, f func(uint64)) error {
	for len(b) > 0 {
		v, n := uvarint(b)
		if n <= 0 {
			return errProto
		}
		f(v)
		b = b[n:]
	}
	return nil
}

func uvarint(b []byte) (uint64, int) {
	var x uint64
	var s uint
	for i, c := range b {
		if i == 10 {
			return 0, -1
		}
		if c < 0x80 {
			return x | uint64(c)<<s, i + 1
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	return 0, 0
}
