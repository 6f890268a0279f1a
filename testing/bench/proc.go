package bench

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RSS returns this process's resident set size in bytes (VmRSS of
// /proc/self/status), or 0 where /proc is not available.
func RSS() int64 {
	return procStatusBytes("VmRSS:")
}

// procStatusBytes reads a "Name:   123 kB" line of /proc/self/status.
func procStatusBytes(name string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if !bytes.HasPrefix(line, []byte(name)) {
			continue
		}
		f := strings.Fields(string(line[len(name):]))
		if len(f) == 0 {
			return 0
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0
		}
		if len(f) > 1 && strings.EqualFold(f[1], "kB") {
			n *= 1024
		}
		return n
	}
	return 0
}

// RSSSample is one reading of an RSSSampler.
type RSSSample struct {
	At    time.Time
	Bytes int64
}

// RSSSampler reads RSS every interval in the background until Stop.
type RSSSampler struct {
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	samples []RSSSample
}

// StartRSSSampler starts sampling at once and then every interval (at
// least 10 ms). It keeps at most maxSamples readings (older ones are
// thinned out), so it is bounded in memory however long it runs.
func StartRSSSampler(interval time.Duration) *RSSSampler {
	interval = max(interval, 10*time.Millisecond)
	s := &RSSSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			s.take()
			select {
			case <-s.stop:
				s.take()
				return
			case <-t.C:
			}
		}
	}()
	return s
}

const maxSamples = 4096

func (s *RSSSampler) take() {
	v := RSS()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) >= maxSamples {
		// Keep every other reading: the series stays evenly spread.
		kept := s.samples[:0]
		for i := 0; i < len(s.samples); i += 2 {
			kept = append(kept, s.samples[i])
		}
		s.samples = kept
	}
	s.samples = append(s.samples, RSSSample{At: time.Now(), Bytes: v})
}

// Stop ends sampling (after one last reading) and waits for it.
func (s *RSSSampler) Stop() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

// MaxBetween returns the largest reading taken in [from, to], or 0.
func (s *RSSSampler) MaxBetween(from, to time.Time) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var m int64
	for _, x := range s.samples {
		if !x.At.Before(from) && !x.At.After(to) {
			m = max(m, x.Bytes)
		}
	}
	return m
}

// cpuInfoModel returns the first "model name" of /proc/cpuinfo.
func cpuInfoModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// memTotal returns MemTotal of /proc/meminfo in bytes, or 0.
func memTotal() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n * 1024
			}
		}
	}
	return 0
}
