package bench

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/google/pprof/profile"
)

// Profile is a pprof profile reduced to what the benchmark uses: the
// values of each sample with its stack and labels.
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
	return slices.ContainsFunc(s.Stack, func(f string) bool { return strings.Contains(f, substr) })
}

// ParseProfile reads a profile as runtime/pprof writes it (gzipped or
// not), with github.com/google/pprof/profile.
func ParseProfile(data []byte) (*Profile, error) {
	pp, err := profile.ParseData(data)
	if err != nil {
		return nil, fmt.Errorf("bench: profile: %w", err)
	}
	p := &Profile{DurationNanos: pp.DurationNanos}
	for _, st := range pp.SampleType {
		p.SampleTypes = append(p.SampleTypes, st.Type)
	}
	for _, ps := range pp.Sample {
		s := Sample{Values: ps.Value}
		for _, loc := range ps.Location {
			for _, l := range loc.Line { // innermost (inlined) first
				if l.Function != nil {
					s.Stack = append(s.Stack, l.Function.Name)
				}
			}
		}
		for k, v := range ps.Label {
			if len(v) > 0 {
				if s.Labels == nil {
					s.Labels = map[string]string{}
				}
				s.Labels[k] = v[len(v)-1]
			}
		}
		p.Samples = append(p.Samples, s)
	}
	return p, nil
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
// sorted by flat value (byCum: by cumulative value), at most n of them
// (n <= 0: all).
func (p *Profile) Top(idx int, keep func(Sample) bool, n int, byCum bool) []FuncStat {
	stats := map[string]*FuncStat{}
	get := func(name string) *FuncStat {
		if stats[name] == nil {
			stats[name] = &FuncStat{Name: name}
		}
		return stats[name]
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
	key := func(f FuncStat) int64 { return map[bool]int64{false: f.Flat, true: f.Cum}[byCum] }
	slices.SortFunc(out, func(a, b FuncStat) int { return cmp.Or(cmp.Compare(key(b), key(a)), strings.Compare(a.Name, b.Name)) })
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out
}
