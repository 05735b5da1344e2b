package feedback

// envoyConfig holds the settings of the Envoy-style gradient limiter.
type envoyConfig struct{}

func defaultEnvoyConfig() envoyConfig { return envoyConfig{} }
