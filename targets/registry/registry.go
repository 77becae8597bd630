// Package registry lists the gateway's built-in target types, in the style
// of dex's connector list: one explicit entry per type, no init-time
// self-registration and no global. A new connector package adds its line
// to New.
package registry

import (
	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/entratarget"
	"github.com/scimgate/scimgate/targets/grpctarget"
	"github.com/scimgate/scimgate/targets/ldaptarget"
	"github.com/scimgate/scimgate/targets/memory"
	"github.com/scimgate/scimgate/targets/scimtarget"
	"github.com/scimgate/scimgate/targets/sqltarget"
)

// Services are what the gateway shares with the connectors of some types.
// The zero value suits validation: connectors that need a service report
// its absence when they are opened.
type Services struct {
	// Entra is the client of the gateway's entra section (nil without
	// one), which every entra target uses.
	Entra *entra.Client
}

// New returns a new registry of every built-in target type. The caller
// owns it: a test may add a type of its own without affecting another.
func New(s Services) targets.Registry {
	return targets.Registry{
		entratarget.Type: func() targets.Config { return &entratarget.Config{Client: s.Entra} },
		grpctarget.Type:  func() targets.Config { return new(grpctarget.Config) },
		ldaptarget.Type:  func() targets.Config { return new(ldaptarget.Config) },
		memory.Type:      func() targets.Config { return new(memory.Config) },
		scimtarget.Type:  func() targets.Config { return new(scimtarget.Config) },
		sqltarget.Type:   func() targets.Config { return new(sqltarget.Config) },
	}
}
