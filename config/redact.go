package config

import (
	"maps"
	"slices"
)

// Mask replaces every password in Redacted output.
const Mask = "*****"

// Redacted returns a deep copy with every password masked, for SHOW CONFIG
// and logs. Empty passwords stay empty so "no password" remains visible.
func (c *Config) Redacted() *Config {
	r := c.Clone()
	mask := func(p *string) {
		if *p != "" {
			*p = Mask
		}
	}
	for i := range r.Users {
		mask(&r.Users[i].Password)
	}
	for i := range r.Admin.Users {
		mask(&r.Admin.Users[i].Password)
	}
	mask(&r.Monitor.Password)
	mask(&r.Replication.Password)
	return r
}

// Clone returns a deep copy, so a reloaded or edited config never shares
// slices with one that other goroutines still read.
func (c *Config) Clone() *Config {
	r := *c
	r.Users = slices.Clone(c.Users)
	r.Admin.Users = slices.Clone(c.Admin.Users)
	r.Servers = slices.Clone(c.Servers)
	r.Routing.Rules = slices.Clone(c.Routing.Rules)
	if c.Routing.Groups != nil {
		r.Routing.Groups = maps.Clone(c.Routing.Groups)
		for g, members := range r.Routing.Groups {
			r.Routing.Groups[g] = slices.Clone(members)
		}
	}
	return &r
}
