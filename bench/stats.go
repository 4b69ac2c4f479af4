// Package bench measures Switchyard against the floor it must be judged by:
// the same workload run directly against MariaDB, through a plain TCP relay
// and through Switchyard, interleaved run by run so the drift of a noisy
// machine falls on every target alike. It also runs failover drills: writers
// and readers through the proxy while the primary is killed or switched over.
package bench

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest sample with at least p% of the samples at
// or below it. It returns 0 for no samples.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// The epsilon keeps float error (99.9% of 1000 = 999.0000000000001)
	// from moving the rank up by one.
	rank := int(math.Ceil(p/100*float64(len(sorted)) - 1e-9))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Median returns the median of xs (the mean of the middle two for an even
// count), or 0 for none. xs is not modified.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// Ratio returns x/base, or 0 when base is 0 (no baseline measured).
func Ratio(x, base float64) float64 {
	if base == 0 {
		return 0
	}
	return x / base
}

// Sample is what one run of one workload against one target measured.
type Sample struct {
	Ops        int64
	Errors     int64
	Elapsed    time.Duration
	Bytes      int64 // result bytes read, for throughput workloads
	FirstError string
	Latency    []time.Duration // one per successful operation
}

// Stats summarises one run.
type Stats struct {
	QPS    float64 `json:"qps"`
	P50    float64 `json:"p50_us"`
	P90    float64 `json:"p90_us"`
	P99    float64 `json:"p99_us"`
	P999   float64 `json:"p999_us"`
	MBps   float64 `json:"mb_per_s,omitempty"`
	Errors int64   `json:"errors"`
}

// Summarize computes the rate and latency percentiles of s (it sorts
// s.Latency in place).
func Summarize(s Sample) Stats {
	slices.Sort(s.Latency)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	st := Stats{
		P50:    us(Percentile(s.Latency, 50)),
		P90:    us(Percentile(s.Latency, 90)),
		P99:    us(Percentile(s.Latency, 99)),
		P999:   us(Percentile(s.Latency, 99.9)),
		Errors: s.Errors,
	}
	if secs := s.Elapsed.Seconds(); secs > 0 {
		st.QPS = float64(s.Ops) / secs
		st.MBps = float64(s.Bytes) / secs / (1 << 20)
	}
	return st
}

// MedianStats is the per-field median of runs: each column of the report is
// the median of that column, so one noisy run cannot move a cell.
func MedianStats(runs []Stats) Stats {
	col := func(f func(Stats) float64) float64 {
		xs := make([]float64, len(runs))
		for i, r := range runs {
			xs[i] = f(r)
		}
		return Median(xs)
	}
	var errs int64
	for _, r := range runs {
		errs += r.Errors
	}
	return Stats{
		QPS:    col(func(s Stats) float64 { return s.QPS }),
		P50:    col(func(s Stats) float64 { return s.P50 }),
		P90:    col(func(s Stats) float64 { return s.P90 }),
		P99:    col(func(s Stats) float64 { return s.P99 }),
		P999:   col(func(s Stats) float64 { return s.P999 }),
		MBps:   col(func(s Stats) float64 { return s.MBps }),
		Errors: errs,
	}
}
