package main

// The plan subcommand. It reads the configuration and the data directory
// through internal/plan alone, never through the gateway
// (TestPlanWithoutGateway).

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/plan"
	"github.com/scimgate/scimgate/targets/registry"
)

func planCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFile := fs.String("config", "", "YAML configuration `file`")
	dataDir := fs.String("data-dir", config.DefaultDataDir, "`directory` of the gateway's durable state")
	target := fs.String("target", "", "show only the target with this `name`")
	explain := fs.String("explain", "", "explain the decisions and provisioning state of one user or group, by `id` or userName/displayName")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: plan takes no arguments, got %q", errUsage, fs.Args())
	}
	types := registry.New(registry.Services{})
	cfg, err := loadConfig(fs, types, cfgFile, new(string), dataDir)
	if err != nil {
		return err
	}
	src, err := plan.Open(ctx, cfg, types)
	if err != nil {
		return err
	}
	defer src.Close()
	if *explain != "" {
		x, err := plan.Explain(ctx, src.Store, src.Policy, src.Types, *target, *explain)
		if err != nil {
			return err
		}
		if *asJSON {
			return x.WriteJSON(stdout)
		}
		return x.WriteText(stdout)
	}
	p, err := plan.Build(ctx, src.Store, src.Policy, src.Types, *target)
	if err != nil {
		return err
	}
	if *asJSON {
		return p.WriteJSON(stdout)
	}
	return p.WriteText(stdout)
}
