// Package metrics exports Switchyard's Prometheus metrics on the metrics
// listener (/metrics), with /healthz (the process runs) and /readyz (a
// writable primary is known and the proxy accepts clients).
//
// Statement counters and latency histograms are updated on the proxy's hot
// path by Statement, which does not allocate. Everything derived from the
// topology, the proxy's pools and counters and the failover manager is read
// at scrape time by a custom collector: no background goroutine, and a
// scrape always shows the current state.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchyard/switchyard/admin"
	"github.com/switchyard/switchyard/digest"
	"github.com/switchyard/switchyard/routing"
	"github.com/switchyard/switchyard/topology"
)

// ProxyStats is the part of the proxy metrics read; an admin.ProxyInfo
// satisfies it.
type ProxyStats interface {
	Pools() []admin.Pool
	Stats() admin.Stats
}

// FailoverInfo is the part of the failover manager metrics read; an
// admin.FailoverControl satisfies it.
type FailoverInfo interface {
	Events() []admin.Event
	State() string
}

// Deps is what the metrics read. Proxy, Failover and Digests may be nil.
type Deps struct {
	View     *topology.View
	Proxy    ProxyStats
	Failover FailoverInfo
	Digests  *digest.Store // Statement forwards to it
	Logger   *slog.Logger
}

// Metrics owns a private Prometheus registry (so tests and embedders never
// collide on the global one).
type Metrics struct {
	d   Deps
	log *slog.Logger
	reg *prometheus.Registry

	// hot path: children resolved once, indexed by route and result
	queries  [numRoutes][2]prometheus.Counter
	duration [numRoutes]prometheus.Observer

	writeHold prometheus.Histogram
	reloads   *prometheus.CounterVec

	srvMu sync.Mutex
	srv   *http.Server
}

// numRoutes covers routing.Route values; an out-of-range route is counted
// as auto rather than panicking on the hot path.
const numRoutes = int(routing.RouteGroup) + 1

// DurationBuckets span 50µs to 10s, roughly ×2.5 per step.
var DurationBuckets = []float64{
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
	0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// New builds the registry and pre-resolves the hot-path metric children.
func New(d Deps) *Metrics {
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{d: d, log: log.With("component", "metrics"), reg: prometheus.NewRegistry()}

	queries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchyard_queries_total",
		Help: "Statements run through the proxy, by route and result (ok|error).",
	}, []string{"route", "result"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "switchyard_query_duration_seconds",
		Help:    "Statement latency through the proxy (borrow to last packet), by route.",
		Buckets: DurationBuckets,
	}, []string{"route"})
	for r := range numRoutes {
		name := routing.Route(r).String()
		m.queries[r][0] = queries.WithLabelValues(name, "ok")
		m.queries[r][1] = queries.WithLabelValues(name, "error")
		m.duration[r] = duration.WithLabelValues(name)
	}
	m.writeHold = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "switchyard_write_hold_seconds",
		Help:    "How long writes were held by the write gate during failover or switchover.",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30},
	})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchyard_config_reloads_total",
		Help: "Configuration reloads by result (ok|error).",
	}, []string{"result"})
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("error")

	m.reg.MustRegister(
		queries, duration, m.writeHold, m.reloads,
		newCollector(&m.d),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry returns the registry, for embedding or extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Statement records one statement; it has the proxy's Observer signature.
// It does not allocate (user and server are not labels: they are unbounded
// or available per server from the pools).
func (m *Metrics) Statement(user string, sql []byte, route routing.Route, server string, d time.Duration, rows int64, failed bool) {
	r := int(route)
	if r >= numRoutes {
		r = int(routing.RouteAuto)
	}
	res := 0
	if failed {
		res = 1
	}
	m.queries[r][res].Inc()
	m.duration[r].Observe(d.Seconds())
	if m.d.Digests != nil {
		m.d.Digests.Record(routing.DigestHash(sql), sql, route.String(), d, rows, failed)
	}
}

// WriteHeld records how long one write waited on the write gate.
func (m *Metrics) WriteHeld(d time.Duration) { m.writeHold.Observe(d.Seconds()) }

// ConfigReloaded counts a configuration reload (admin RELOAD CONFIG or
// SIGHUP) by its outcome.
func (m *Metrics) ConfigReloaded(err error) {
	if err != nil {
		m.reloads.WithLabelValues("error").Inc()
		return
	}
	m.reloads.WithLabelValues("ok").Inc()
}

// Handler serves /metrics, /healthz and /readyz.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if reason := m.NotReady(); reason != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", reason)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// NotReady returns why the proxy cannot take writes now, or "" when a
// writable primary is known and the proxy accepts clients.
func (m *Metrics) NotReady() string {
	snap := m.d.View.Load()
	switch {
	case snap.Primary == "":
		return "no primary known"
	case snap.Gate != topology.WritesOpen:
		reason := "writes " + snap.Gate.String()
		if snap.Reason != "" {
			reason += ": " + snap.Reason
		}
		return reason
	case m.d.Proxy == nil:
		return "proxy not running"
	case !m.d.Proxy.Stats().Accepting:
		return "proxy not accepting clients"
	}
	return ""
}

// Serve serves Handler on ln until Close.
func (m *Metrics) Serve(ln net.Listener) error {
	srv := &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	m.srvMu.Lock()
	if m.srv != nil {
		m.srvMu.Unlock()
		return errors.New("metrics: already serving")
	}
	m.srv = srv
	m.srvMu.Unlock()
	m.log.Info("metrics listening", "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: serve: %w", err)
	}
	return nil
}

// Close stops the listener started by Serve, letting running scrapes finish
// for up to a second.
func (m *Metrics) Close() error {
	m.srvMu.Lock()
	srv := m.srv
	m.srvMu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return srv.Close()
	}
	return nil
}
