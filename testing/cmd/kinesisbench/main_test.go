package main

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSmoke runs every figure with --smoke in this process and checks only
// that it worked: every record counted, every pipeline done, every table
// and picture made. Timings are never checked.
func TestSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if err := run(ctx, []string{"--smoke", "--plots", dir}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	t.Logf("stderr:\n%s", stderr.String())
	for _, f := range figures {
		if !strings.Contains(stdout.String(), "**"+f.title+"**") {
			t.Errorf("no table %q in:\n%s", f.title, stdout.String())
		}
	}
	for _, name := range []string{"read-100B", "read-10KiB", "cpu", "latency", "scale-lag", "scale-cpu"} {
		if st, err := os.Stat(filepath.Join(dir, name+".svg")); err != nil || st.Size() == 0 {
			t.Errorf("picture %s: %v", name, err)
		}
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{{"--only=nope"}, {"--only="}, {"--sizes=8"}, {"--latency-duration=0s"}, {"stray"}} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
	c, err := parseFlags([]string{"--smoke", "--shards=2", "--only=read,scale"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.shards, []int{2}) || c.readKiB != 200 {
		t.Errorf("--smoke: shards %v (explicit: 2), read-kib %d", c.shards, c.readKiB)
	}
	for _, sc := range scenarios(c) {
		if sc.fig != "read" && sc.fig != "scale" {
			t.Errorf("--only=read,scale runs %v", sc)
		}
	}
}

func TestHistogram(t *testing.T) {
	h := newHistogram()
	if h.Quantile(0.5) != 0 || h.Max() != 0 {
		t.Fatal("empty histogram is not all zero")
	}
	var all []time.Duration
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		d := time.Duration(r.ExpFloat64() * float64(50*time.Millisecond))
		h.Record(d)
		all = append(all, d)
	}
	slices.Sort(all)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999} {
		want, got := all[int(q*float64(len(all)))-1], h.Quantile(q)
		if diff := float64(got-want) / float64(want); diff > 0.02 || diff < -0.02 {
			t.Errorf("q%.3f = %v, want %v (±2%%)", q, got, want)
		}
	}
	ds, fs := h.CDF()
	if h.Max() != all[len(all)-1] || float64(h.Max()-ds[len(ds)-1]) > 0.02*float64(h.Max()) || fs[len(fs)-1] != 1 || !slices.IsSorted(fs) {
		t.Errorf("max %v, want %v; CDF ends at %v, %v", h.Max(), all[len(all)-1], ds[len(ds)-1], fs[len(fs)-1])
	}
}
