package feedback

// targetConfig holds the settings of the latency-target limiter.
type targetConfig struct{}

func defaultTargetConfig() targetConfig { return targetConfig{} }
