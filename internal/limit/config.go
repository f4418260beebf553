package limit

import (
	"errors"
	"fmt"
	"time"
)

// Config bounds a server's connections.
type Config struct {
	// MaxConns caps open connections in all; one more is answered 503 and closed. Keep it
	// below the process's file descriptor limit.
	MaxConns int `mapstructure:"max_conns"`
	// MaxConnsPerAddr caps open connections from one address (IPv6: one /64); one more is
	// answered 429 and closed. Browsers open six per host; a NAT shares one address.
	MaxConnsPerAddr int `mapstructure:"max_conns_per_addr"`
	// HeaderTimeout is how long a client may take to send a request's headers.
	HeaderTimeout time.Duration `mapstructure:"header_timeout"`
	// IdleTimeout closes a keep-alive connection that has no request for this long.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// StallTimeout cuts off an answer, or a request body, that moves no byte for this
	// long: a download may take hours, but not a minute without a byte.
	StallTimeout time.Duration `mapstructure:"stall_timeout"`
}

// DefaultConfig suits a busy public server with the default descriptor limit raised (Go
// raises the soft limit to the hard one at start; systemd's default hard limit is 524288).
func DefaultConfig() Config {
	return Config{
		MaxConns:        16384,
		MaxConnsPerAddr: 64,
		HeaderTimeout:   10 * time.Second,
		IdleTimeout:     60 * time.Second,
		StallTimeout:    60 * time.Second,
	}
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	if c.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("max_conns: must be at least 1, not %d", c.MaxConns))
	}
	if c.MaxConnsPerAddr < 1 || c.MaxConnsPerAddr > c.MaxConns {
		errs = append(errs, fmt.Errorf("max_conns_per_addr: must be 1 to max_conns (%d), not %d", c.MaxConns, c.MaxConnsPerAddr))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"header_timeout", c.HeaderTimeout}, {"idle_timeout", c.IdleTimeout}, {"stall_timeout", c.StallTimeout}} {
		if d.v < time.Second {
			errs = append(errs, fmt.Errorf("%s: must be at least 1s, not %s", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// Rate is a token bucket per client address: PerSecond requests on average, Burst at once.
// PerSecond 0 turns the limit off.
type Rate struct {
	PerSecond float64 `mapstructure:"per_second"`
	Burst     int     `mapstructure:"burst"`
}

// Validate checks the rate; name prefixes its errors.
func (r Rate) Validate(name string) error {
	switch {
	case r.PerSecond < 0:
		return fmt.Errorf("%s.per_second: must not be negative, not %g", name, r.PerSecond)
	case r.PerSecond > 0 && r.Burst < 1:
		return fmt.Errorf("%s.burst: must be at least 1 when per_second is set, not %d", name, r.Burst)
	}
	return nil
}
