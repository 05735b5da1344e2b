package spec

// Metric names, as keys of the metrics maps in results and JSON.
const (
	P50          = "p50_us"         // RTT: median round trip, µs
	P99          = "p99_us"         // RTT: 99th percentile, µs
	P999         = "p999_us"        // RTT: 99.9th percentile, µs
	CallsPerSec  = "calls_per_s"    // RTT, Inflight: completed calls per second
	MsgsPerSec   = "msgs_per_s"     // PubSub, Fanout: delivered messages per second, all subscribers
	MBPerSec     = "mb_per_s"       // PubSub, Fanout: delivered payload, 10^6 bytes per second
	ServerRSSMiB = "server_hwm_mib" // every case: server (provider, publisher) peak RSS
	ClientRSSMiB = "client_hwm_mib" // every case: client (caller, subscribers) peak RSS
)

// Headline returns the main metric of a case: the one compared first.
func Headline(c Case) string {
	switch c {
	case RTT:
		return P50
	case Inflight:
		return CallsPerSec
	case PubSub, Fanout:
		return MsgsPerSec
	}
	return ServerRSSMiB
}

// LowerIsBetter reports whether smaller values of metric are better.
func LowerIsBetter(metric string) bool {
	switch metric {
	case P50, P99, P999, ServerRSSMiB, ClientRSSMiB:
		return true
	}
	return false
}

// Unit returns the unit of a metric for labels.
func Unit(metric string) string {
	switch metric {
	case P50, P99, P999:
		return "µs"
	case CallsPerSec:
		return "calls/s"
	case MsgsPerSec:
		return "msgs/s"
	case MBPerSec:
		return "MB/s"
	}
	return "MiB"
}
