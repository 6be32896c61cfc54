package daemon

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/drlb/drlb/daemon/check"
	"github.com/drlb/drlb/daemon/vrrp"
)

// metrics holds the daemon's Prometheus registry. Counters that the
// components already keep (adverts, drops) are read at scrape time.
type metrics struct {
	d           *Daemon
	reg         *prometheus.Registry
	transitions *prometheus.CounterVec
	health      *prometheus.CounterVec
	applies     *prometheus.CounterVec
	applyTime   prometheus.Histogram
	reloads     *prometheus.CounterVec
	// vrrpChildRestarts counts VRRP children respawned after dying.
	vrrpChildRestarts prometheus.Counter
}

var (
	descState    = prometheus.NewDesc("drlb_vrrp_state", "VRRP state of an instance (0 init, 1 backup, 2 master, 3 fault).", []string{"instance"}, nil)
	descPriority = prometheus.NewDesc("drlb_vrrp_effective_priority", "Effective VRRP priority of an instance.", []string{"instance"}, nil)
	descSent     = prometheus.NewDesc("drlb_vrrp_adverts_sent_total", "VRRP advertisements sent.", []string{"instance"}, nil)
	descRecv     = prometheus.NewDesc("drlb_vrrp_adverts_received_total", "Valid VRRP advertisements received.", []string{"instance"}, nil)
	descDrops    = prometheus.NewDesc("drlb_vrrp_adverts_dropped_total", "VRRP packets dropped, by reason.", []string{"instance", "reason"}, nil)
	descSuspects = prometheus.NewDesc("drlb_vrrp_adverts_suspect_total", "Valid VRRP adverts not obeyed at once (a single takeover claim, an unconfirmed master, a bounded interval, priority 0 from a non-master), by reason.", []string{"instance", "reason"}, nil)
	descSendLate = prometheus.NewDesc("drlb_vrrp_advert_send_lateness_seconds", "How long after it was due each advert sent as MASTER left (the VRRP thread's scheduling delay).", []string{"instance"}, nil)
	descTimeLate = prometheus.NewDesc("drlb_vrrp_master_down_timer_lateness_seconds", "How long after it was due each master-down timer was seen in BACKUP.", []string{"instance"}, nil)
	descRecvGap  = prometheus.NewDesc("drlb_vrrp_advert_receive_gap_seconds", "Time between consecutive adverts received from the master.", []string{"instance"}, nil)
	descLateAdv  = prometheus.NewDesc("drlb_vrrp_late_adverts_total", "Adverts sent later than a quarter of the advert interval.", []string{"instance"}, nil)
	descFalseDn  = prometheus.NewDesc("drlb_vrrp_false_master_down_total", "Master-down timers after which the old master's advert came within its down interval (late, not lost).", []string{"instance"}, nil)
	descUp       = prometheus.NewDesc("drlb_real_server_up", "Whether a real server passes its health checks.", []string{"service", "server"}, nil)
	descLatency  = prometheus.NewDesc("drlb_check_latency_seconds", "Latency of the latest health check of a real server.", []string{"service", "server"}, nil)
	descChecks   = prometheus.NewDesc("drlb_health_checks_total", "Health-check probes run, by result (ok, failed).", []string{"result"}, nil)
)

func newMetrics(d *Daemon) *metrics {
	m := &metrics{
		d:   d,
		reg: prometheus.NewRegistry(),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "drlb_vrrp_transitions_total",
			Help: "VRRP state transitions, by new state."}, []string{"instance", "state"}),
		health: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "drlb_real_server_transitions_total",
			Help: "Real-server health transitions, by new state."}, []string{"service", "server", "state"}),
		applies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "drlb_dataplane_applies_total",
			Help: "Data-plane applies, by result."}, []string{"result"}),
		applyTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "drlb_dataplane_apply_seconds",
			Help: "Duration of data-plane applies.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8)}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "drlb_reloads_total",
			Help: "Configuration reloads, by result."}, []string{"result"}),
		vrrpChildRestarts: prometheus.NewCounter(prometheus.CounterOpts{Name: "drlb_vrrp_child_restarts_total",
			Help: "VRRP child processes respawned after an unexpected death."}),
	}
	m.reg.MustRegister(m.transitions, m.health, m.applies, m.applyTime, m.reloads, m.vrrpChildRestarts, m, bgpCollector{d})
	return m
}

// Describe implements prometheus.Collector for the scrape-time metrics.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descState, descPriority, descSent, descRecv, descDrops, descSuspects, descSendLate, descTimeLate, descRecvGap, descLateAdv, descFalseDn, descUp, descLatency, descChecks, descScriptRuns, descScriptDropped} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.d.collectScripts(ch)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	v, _ := m.d.view(ctx, false)
	cancel()
	node, sched := v.node, v.sched
	if node != nil {
		for _, s := range node.Status() {
			ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, stateValue(s.State), s.Name)
			ch <- prometheus.MustNewConstMetric(descPriority, prometheus.GaugeValue, float64(s.EffectivePriority), s.Name)
			ch <- prometheus.MustNewConstMetric(descSent, prometheus.CounterValue, float64(s.Counters.AdvertsSent), s.Name)
			ch <- prometheus.MustNewConstMetric(descRecv, prometheus.CounterValue, float64(s.Counters.AdvertsReceived), s.Name)
			for r, n := range s.Counters.Drops {
				ch <- prometheus.MustNewConstMetric(descDrops, prometheus.CounterValue, float64(n), s.Name, r.String())
			}
			for r, n := range s.Counters.Suspects {
				ch <- prometheus.MustNewConstMetric(descSuspects, prometheus.CounterValue, float64(n), s.Name, r.String())
			}
			for _, h := range []struct {
				d *prometheus.Desc
				h vrrp.Histogram
			}{{descSendLate, s.Timing.SendLateness}, {descTimeLate, s.Timing.TimerLateness}, {descRecvGap, s.Timing.ReceiveGap}} {
				ch <- prometheus.MustNewConstHistogram(h.d, h.h.Count, h.h.Sum.Seconds(), h.h.Cumulative(), s.Name)
			}
			ch <- prometheus.MustNewConstMetric(descLateAdv, prometheus.CounterValue, float64(s.Timing.LateAdverts), s.Name)
			ch <- prometheus.MustNewConstMetric(descFalseDn, prometheus.CounterValue, float64(s.Timing.FalseMasterDowns), s.Name)
		}
	}
	if sched != nil {
		checks, failed := sched.Totals()
		ch <- prometheus.MustNewConstMetric(descChecks, prometheus.CounterValue, float64(checks-failed), "ok")
		ch <- prometheus.MustNewConstMetric(descChecks, prometheus.CounterValue, float64(failed), "failed")
		for _, s := range sched.Snapshot() {
			up := 0.0
			if s.Up {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, s.Target.VirtualServer, s.Target.RealServer)
			ch <- prometheus.MustNewConstMetric(descLatency, prometheus.GaugeValue, s.LastLatency.Seconds(), s.Target.VirtualServer, s.Target.RealServer)
		}
	}
}

func stateValue(s vrrp.State) float64 {
	switch s {
	case vrrp.StateBackup:
		return 1
	case vrrp.StateMaster:
		return 2
	case vrrp.StateFault:
		return 3
	}
	return 0
}

func (m *metrics) vrrpTransition(instance, state string) {
	m.transitions.WithLabelValues(instance, state).Inc()
}

func (m *metrics) healthTransition(t check.Target, up bool) {
	state := "down"
	if up {
		state = "up"
	}
	m.health.WithLabelValues(t.VirtualServer, t.RealServer, state).Inc()
}

func (m *metrics) dataplaneApply(took time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.applies.WithLabelValues(result).Inc()
	m.applyTime.Observe(took.Seconds())
}

func (m *metrics) reload(ok bool) {
	result := "ok"
	if !ok {
		result = "refused"
	}
	m.reloads.WithLabelValues(result).Inc()
}

// listen serves /metrics on addr; "" disables metrics.
func (m *metrics) listen(addr string) (server, error) {
	if addr == "" {
		return &nopServer{done: make(chan struct{})}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	// Profiles on the same loopback-only listener, for performance work.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	return &httpServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln}, nil
}
