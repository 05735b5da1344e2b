package feedback

import "time"

// Controller is the synchronous shape every controller in this package
// has, and the one a user implements to plug in their own: it is given
// the latest measurement of the controlled quantity and the time since
// the previous call, and returns the actuation to apply until the next
// call. A controller never sleeps and starts no goroutines; the loop
// that calls it owns the timing.
type Controller interface {
	Update(measurement float64, dt time.Duration) (actuation float64)
}

// ControllerFunc adapts an ordinary function to the Controller
// interface, in the way http.HandlerFunc adapts a function to
// http.Handler.
type ControllerFunc func(measurement float64, dt time.Duration) float64

// Update calls f(measurement, dt).
func (f ControllerFunc) Update(measurement float64, dt time.Duration) float64 {
	return f(measurement, dt)
}
