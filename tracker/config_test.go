package tracker

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Config)
		key  string // in the error; "" for a valid config
	}{
		{"defaults", func(*Config) {}, ""},
		{"one entry per address", func(c *Config) { c.MaxPeersPerAddress = 1 }, ""},
		{"64 entries per address", func(c *Config) { c.MaxPeersPerAddress = 64 }, ""},
		{"no entry per address", func(c *Config) { c.MaxPeersPerAddress = 0 }, "max_peers_per_address"},
		{"65 entries per address", func(c *Config) { c.MaxPeersPerAddress = 65 }, "max_peers_per_address"},
		{"no peers per swarm", func(c *Config) { c.MaxPeersPerSwarm = 0 }, "max_peers_per_swarm"},
		{"sub-second interval", func(c *Config) { c.Interval = 0 }, "interval"},
		{"bad proxy", func(c *Config) { c.TrustedProxies = []string{"10.0.0.0"} }, "trusted_proxies"},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		tt.set(&cfg)
		err := cfg.Validate()
		switch {
		case tt.key == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.key != "" && (err == nil || !strings.Contains(err.Error(), tt.key+":")):
			t.Errorf("%s: error %v, want one naming %s", tt.name, err, tt.key)
		}
	}
}
