package config

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/entratarget"
)

// Target is one provisioning target, configured in one place: its
// connector ({name, type, config}, see package targets) and its policy
// (which users and groups it receives, how their attributes map, and its
// lifecycle; see package policy).
type Target struct {
	Name      string                 `yaml:"name"`
	Type      string                 `yaml:"type"`
	Config    yaml.Node              `yaml:"config"`
	Users     *policy.ObjectConfig   `yaml:"users"`
	Groups    *policy.ObjectConfig   `yaml:"groups"`
	Lifecycle policy.LifecycleConfig `yaml:"lifecycle"`
	// Adopt: see policy.TargetConfig.Adopt.
	Adopt *bool `yaml:"adopt"`
	// Orphans and Reconcile: see policy.TargetConfig (validated, with the
	// rest of the policy, as targets[i].orphans and
	// targets[i].reconcile.schedule).
	Orphans   policy.Orphans          `yaml:"orphans"`
	Reconcile *policy.ReconcileConfig `yaml:"reconcile"`
}

// Connectors returns the connector part of every target.
func (c Config) Connectors() []targets.TargetConfig {
	out := make([]targets.TargetConfig, len(c.Targets))
	for i, t := range c.Targets {
		out[i] = targets.TargetConfig{Name: t.Name, Type: t.Type, Config: t.Config}
	}
	return out
}

// Policy returns the policy part of every target. It is compiled (and its
// problems reported, by "targets[i]…" path) with the resource types the
// SCIM schema configuration defines. A connector configuration that
// derives user attributes from rules of its own (targets.Deriver, decoded
// with reg) adds them to the users' mapping, named config.<field> in
// errors.
func (c Config) Policy(reg targets.Registry) policy.Config {
	out := policy.Config{Targets: make([]policy.TargetConfig, len(c.Targets))}
	for i, t := range c.Targets {
		users := t.Users
		if cfg, err := reg.Decode(targets.TargetConfig{Name: t.Name, Type: t.Type, Config: t.Config}); err == nil && users != nil {
			if d, ok := cfg.(targets.Deriver); ok && len(d.Derived()) > 0 {
				u := *users
				u.Mapping = slices.Clone(u.Mapping)
				for _, a := range d.Derived() {
					u.Mapping = append(u.Mapping, policy.MappingConfig{Target: a.Attribute, Expression: a.Expression, Field: "config." + a.Field})
				}
				users = &u
			}
		}
		out.Targets[i] = policy.TargetConfig{Name: t.Name, Users: users, Groups: t.Groups, Lifecycle: t.Lifecycle, Adopt: t.Adopt,
			Orphans: t.Orphans, Reconcile: t.Reconcile}
	}
	return out
}

// validateTargets checks the connector part of the targets against the
// target types of reg.
func (c Config) validateTargets(reg targets.Registry) error {
	if len(c.Targets) == 0 {
		return nil
	}
	errs := []error{reg.Validate(c.Connectors()...)}
	for i, t := range c.Targets {
		if t.Type != entratarget.Type {
			continue
		}
		if c.Entra == nil {
			errs = append(errs, &FieldError{Path: fmt.Sprintf("targets[%d].type", i),
				Msg: "an entra target needs the entra section (the tenant and the credentials it acts with)"})
		}
		// Reconciling an entra target lists every user of the tenant.
		if t.Orphans != "" && t.Orphans != policy.OrphansReport {
			errs = append(errs, &FieldError{Path: fmt.Sprintf("targets[%d].orphans", i),
				Msg: fmt.Sprintf("%s on an entra target would act on every tenant user the gateway does not provision: only report", t.Orphans)})
		}
	}
	return errors.Join(errs...)
}

// String names the target and its type only: a connector's config may hold
// credentials and is never logged.
func (t Target) String() string { return t.Name + " (" + t.Type + ")" }

// LogValue names the target and its type only, as String does.
func (t Target) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", t.Name), slog.String("type", t.Type))
}
