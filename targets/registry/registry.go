// Package registry lists the gateway's built-in target types, in the style
// of dex's connector list: one explicit entry per type, no init-time
// self-registration. A new connector package adds its line here.
package registry

import (
	"context"

	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/grpctarget"
	"github.com/scimgate/scimgate/targets/ldaptarget"
	"github.com/scimgate/scimgate/targets/memory"
	"github.com/scimgate/scimgate/targets/scimtarget"
	"github.com/scimgate/scimgate/targets/sqltarget"
)

// Types maps every built-in target type to its configuration.
var Types = targets.Registry{
	grpctarget.Type: func() targets.Config { return new(grpctarget.Config) },
	ldaptarget.Type: func() targets.Config { return new(ldaptarget.Config) },
	memory.Type:     func() targets.Config { return new(memory.Config) },
	scimtarget.Type: func() targets.Config { return new(scimtarget.Config) },
	sqltarget.Type:  func() targets.Config { return new(sqltarget.Config) },
}

// Validate checks target configurations against Types (see
// targets.Registry.Validate).
func Validate(tcs ...targets.TargetConfig) error { return Types.Validate(tcs...) }

// Build opens the connector of one target configuration; a target that
// cannot be reached is opened again in the background as retry says (see
// targets.Registry.Build).
func Build(ctx context.Context, tc targets.TargetConfig, retry targets.Retry) (targets.Connector, error) {
	return Types.Build(ctx, tc, retry)
}
