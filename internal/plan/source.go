package plan

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/guest"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/targets"
)

// Store is the part of the store a plan reads: the engine's (Build and
// Explain run a read-only engine on it).
type Store interface {
	engine.Store
}

// Source is what a plan of a configured gateway reads: its store, its
// policy and the connector type of each target. It is built from the
// configuration and the data directory alone: `scimgate plan` runs
// without the gateway (internal/gateway) and its SCIM server.
type Source struct {
	Store  store.Store // the store Open opened; Close closes it
	Policy *policy.Policy
	// Types maps each target's name to its connector type.
	Types map[string]string
	// Guests are the guest rules, nil without the guests section.
	Guests *guest.Rules
}

// Open opens the Source of cfg, a configuration validated against the
// registry reg: the policy compiled with the configured resource types,
// and the store of the gateway's data directory. Close it when done.
func Open(ctx context.Context, cfg config.Config, reg targets.Registry) (*Source, error) {
	rts, err := scim.ResourceTypes(cfg.SCIM.CustomExtensions)
	if err != nil {
		return nil, err
	}
	pol, err := policy.Compile(cfg.Policy(reg), policy.WithResourceTypes(rts[0], rts[1]))
	if err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	var rules *guest.Rules
	if cfg.Guests != nil {
		if rules, err = guest.Compile(*cfg.Guests, cfg.GuestOptions()); err != nil {
			return nil, fmt.Errorf("invalid configuration: guests: %w", err)
		}
	}
	if !cfg.Store.Shared() {
		dbPath := filepath.Join(cfg.DataDir, config.DatabaseFile)
		if _, err := os.Stat(dbPath); err != nil {
			return nil, fmt.Errorf("no gateway data at %s (set --data-dir): %w", dbPath, err)
		}
	}
	st, err := cfg.OpenStore(ctx)
	if err != nil {
		return nil, err
	}
	types := map[string]string{}
	for _, t := range cfg.Targets {
		types[t.Name] = t.Type
	}
	return &Source{Store: st, Policy: pol, Types: types, Guests: rules}, nil
}

// Close closes the store.
func (s *Source) Close() error { return s.Store.Close() }
