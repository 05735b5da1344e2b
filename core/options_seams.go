package core

import "errors"

// WithBalancer sets how calls choose among a service's providers.
// Default LeastOutstanding(). The Balance call option overrides it for
// one call.
func WithBalancer(b Balancer) Option {
	return func(c *config) error {
		if b == nil {
			return errors.New("core: WithBalancer(nil)")
		}
		c.balancer = b
		return nil
	}
}

// WithServerInterceptors wraps the handler of every service the peer
// provides (not zmp's own introspection services) in interceptors, the
// first given outermost, outside those a service got with Intercept.
// Default none: a call then costs nothing more. Given twice, the
// lists are joined.
func WithServerInterceptors(interceptors ...ServerInterceptor) Option {
	return func(c *config) error {
		for _, f := range interceptors {
			if f == nil {
				return errors.New("core: WithServerInterceptors with a nil interceptor")
			}
		}
		c.serverIntercept = append(c.serverIntercept, interceptors...)
		return nil
	}
}

// WithCallInterceptors runs interceptors around every call the peer
// makes, the first given outermost. Default none: a call then costs
// nothing more. Given twice, the lists are joined.
func WithCallInterceptors(interceptors ...CallInterceptor) Option {
	return func(c *config) error {
		for _, f := range interceptors {
			if f == nil {
				return errors.New("core: WithCallInterceptors with a nil interceptor")
			}
		}
		c.callIntercept = append(c.callIntercept, interceptors...)
		return nil
	}
}
