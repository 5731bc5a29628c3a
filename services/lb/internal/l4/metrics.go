package l4

import "github.com/prometheus/client_golang/prometheus"

// Metrics are per backend, labelled by its host:port (bounded by the number
// of replicas). Connections that reached no backend carry backend="none".
type Metrics struct {
	connections  *prometheus.CounterVec
	active       *prometheus.GaugeVec
	bytes        *prometheus.CounterVec
	dialFailures *prometheus.CounterVec
}

// Connection results, the values of the result label.
const (
	resultClosed    = "closed"       // both sides finished (FIN both ways)
	resultError     = "error"        // a reset or write error ended it
	resultIdle      = "idle_timeout" // no byte either way for L4_IDLE_TIMEOUT
	resultShutdown  = "shutdown"     // still open when SHUTDOWN_TIMEOUT ran out
	resultNoBackend = "no_backend"   // no backend known, or every dial failed
)

// NewMetrics registers the scalelab_lb_l4_* metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scalelab_lb_l4_connections_total",
			Help: "Client connections finished, by backend and result (closed, error, idle_timeout, shutdown, no_backend).",
		}, []string{"backend", "result"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scalelab_lb_l4_active_connections",
			Help: "Client connections open (or being opened) to a backend.",
		}, []string{"backend"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scalelab_lb_l4_bytes_total",
			Help: "Bytes forwarded, by backend and direction (to_backend, to_client); counted per MiB and when a direction ends.",
		}, []string{"backend", "direction"}),
		dialFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scalelab_lb_l4_dial_failures_total",
			Help: "Connections to a backend that could not be opened (refused or timed out); the client is sent to the next backend.",
		}, []string{"backend"}),
	}
	reg.MustRegister(m.connections, m.active, m.bytes, m.dialFailures)
	return m
}
