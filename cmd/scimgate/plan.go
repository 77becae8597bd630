package main

// The plan subcommand. It reads the configuration and the data directory
// through internal/plan alone, never through the gateway
// (TestPlanWithoutGateway).

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/plan"
	"github.com/scimgate/scimgate/targets/registry"
)

// maxPlanDays bounds plan --days (ten years).
const maxPlanDays = 3660

func planCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFile := fs.String("config", "", "YAML configuration `file`")
	dataDir := fs.String("data-dir", config.DefaultDataDir, "`directory` of the gateway's durable state")
	target := fs.String("target", "", "show only the target with this `name`")
	explain := fs.String("explain", "", "explain the decisions and provisioning state of one user or group, by `id` or userName/displayName")
	days := fs.Int("days", 30, "show the guest lifecycle's steps due in the next `N` days (with a guests section)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: plan takes no arguments, got %q", errUsage, fs.Args())
	}
	daysSet := false
	fs.Visit(func(f *flag.Flag) { daysSet = daysSet || f.Name == "days" })
	switch {
	case *days < 0 || *days > maxPlanDays:
		return fmt.Errorf("%w: --days must be from 0 to %d, got %d", errUsage, maxPlanDays, *days)
	case daysSet && *explain != "":
		return fmt.Errorf("%w: --days does not apply to --explain", errUsage)
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
	switch {
	case src.Guests != nil:
		if p.Guests, err = plan.GuestSteps(ctx, src.Store, src.Guests, time.Now(), *days); err != nil {
			return err
		}
	case daysSet:
		return fmt.Errorf("%w: --days: the configuration has no guests section (--days is the guest lifecycle's horizon)", errUsage)
	}
	if *asJSON {
		return p.WriteJSON(stdout)
	}
	return p.WriteText(stdout)
}
