package targets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// TargetConfig is one target instance in the gateway's YAML configuration:
//
//	targets:
//	  - name: hr-db        # unique; used in metrics, logs and the admin API
//	    type: sql          # a key of the Registry
//	    config: {...}      # decoded into that type's Config
//
// Structs of the engine may embed it with `yaml:",inline"`.
type TargetConfig struct {
	Name   string    `yaml:"name"`
	Type   string    `yaml:"type"`
	Config yaml.Node `yaml:"config"`
}

// LogValue names the target and its type only: its config may hold
// credentials (DSNs, passwords, tokens) and is never logged.
func (tc TargetConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", tc.Name), slog.String("type", tc.Type))
}

// Env is what the gateway tells a connector about the target it serves.
type Env struct {
	Name       string            // the target's name (TargetConfig.Name)
	Logger     *slog.Logger      // the gateway's logger; nil means slog.Default(); connectors add "target", Name
	Attributes map[Kind][]string // the target attribute names the target's mapping writes, per kind
}

// Log returns the logger a connector logs with: Logger (slog.Default()
// when nil) with the attribute "target" set to Name.
func (e Env) Log() *slog.Logger {
	l := e.Logger
	if l == nil {
		l = slog.Default()
	}
	return l.With("target", e.Name)
}

// Config is the typed configuration of one connector type, such as
// memory.Config. The Registry decodes a TargetConfig's config into it (an
// unknown field is an error), validates it, then opens it.
type Config interface {
	// Validate checks the configuration as decoded, and reports every
	// invalid field: one FieldError, or errors.Join of several, in an
	// order that does not depend on map iteration. It is pure: it reads
	// no environment variable and no file, connects to nothing and does
	// not change the configuration (defaults are applied by Open).
	Validate() error
	// Provides returns the capabilities of the connector that Open builds
	// from this validated configuration; the connector's Capabilities MUST
	// return the same. The engine plans from them before the target can be
	// reached (see Registry.Build).
	Provides() Capabilities
	// Open builds the connector of the target env describes from a
	// validated configuration: it applies the defaults, reads the secrets
	// and files the configuration names (a missing or unreadable one is a
	// FieldError naming its field, never containing a secret) and may
	// connect to the target; ctx bounds that, and is not kept. It does not
	// change the configuration, and may be called again after a failure.
	// A target that cannot be reached now is an error classified
	// ErrTransient; a configuration the target refuses (a missing table,
	// an unknown base entry) is ErrPermanent or a FieldError.
	Open(ctx context.Context, env Env) (Connector, error)
}

// Registry maps a target type to a function that returns a new Config of
// that type holding its defaults. The gateway's registry lists every
// built-in connector type explicitly (package targets/registry).
type Registry map[string]func() Config

// ConfigError is an invalid target configuration.
type ConfigError struct {
	Target string // the target's name ("" when it has none)
	Field  string // "name", "type", "config" or "config.<field path>"
	Err    error
}

func (e *ConfigError) Error() string {
	if e.Target == "" {
		return fmt.Sprintf("%s: %v", e.Field, e.Err)
	}
	return fmt.Sprintf("target %q: %s: %v", e.Target, e.Field, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// FieldError is the error of a Config's Validate or Open for one of its
// fields, named by its YAML path inside config ("dsn", "tls.ca_file"): a
// *ConfigError whose Target the Registry sets.
func FieldError(field, format string, args ...any) error {
	return &ConfigError{Field: field, Err: fmt.Errorf(format, args...)}
}

// namePattern is the form of a target name: it appears in URLs of the admin
// API and in metric labels.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// CheckName checks the form of a target name, the one rule of the gateway
// (its connectors here, its policy in package policy): 1 to 63 letters,
// digits, '.', '_' or '-', starting with a letter or digit. Names are
// case-sensitive, but two targets whose names differ only in case are
// duplicates (see NameKey): metric labels and URLs must not tell them
// apart by case alone.
func CheckName(name string) error {
	switch {
	case name == "":
		return errors.New("required")
	case !namePattern.MatchString(name):
		return fmt.Errorf("%q: must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// NameKey is the key under which target names are unique: two names with
// the same key are duplicates.
func NameKey(name string) string { return strings.ToLower(name) }

// Validate checks target configurations before use: every name well-formed
// and unique (NameKey), every type known, every config decodable and valid.
// It reports every problem found, each as a *ConfigError.
func (r Registry) Validate(tcs ...TargetConfig) error {
	var errs []error
	seen := make(map[string]string)
	for _, tc := range tcs {
		if _, err := r.config(tc); err != nil {
			errs = append(errs, err)
		}
		if tc.Name == "" {
			continue
		}
		if prev, dup := seen[NameKey(tc.Name)]; dup {
			msg := "duplicate target name"
			if prev != tc.Name {
				msg = fmt.Sprintf("duplicate target name (%q differs only in case)", prev)
			}
			errs = append(errs, &ConfigError{Target: tc.Name, Field: "name", Err: errors.New(msg)})
			continue
		}
		seen[NameKey(tc.Name)] = tc.Name
	}
	return errors.Join(errs...)
}

// Build validates one target configuration and opens its connector for
// the target env describes (env.Name "" means tc.Name); every re-open
// below gets the same env.
//
// A target that cannot be reached does not fail Build: when Open fails
// with an error that the connector classified ErrTransient (connection
// refused) or a deadline, Build logs it once and returns a connector that
// has the configuration's capabilities (Config.Provides), answers every
// other call with an ErrNotConnected error giving the reason, and Health
// with the same, while it opens the target again in the background with
// the backoff of retry until that succeeds; from then on it is the opened
// connector. Every other error stops Build: an invalid or undecodable
// configuration, a missing secret (a ConfigError; Open's FieldErrors are
// reported as Validate's, by target and "config.<field>"), an Open error that is
// permanent (a schema check, a missing base entry) or unclassified (a
// listener that cannot bind).
func (r Registry) Build(ctx context.Context, tc TargetConfig, env Env, retry Retry) (Connector, error) {
	cfg, err := r.config(tc)
	if err != nil {
		return nil, err
	}
	if env.Name == "" {
		env.Name = tc.Name
	}
	c, err := cfg.Open(ctx, env)
	if err == nil {
		return c, nil
	}
	if ce, ok := err.(*ConfigError); ok && ce.Target == "" {
		// A FieldError of Open (a missing secret or file): reported as
		// Validate's are, by the target and the field's path in it.
		return nil, &ConfigError{Target: tc.Name, Field: "config." + ce.Field, Err: ce.Err}
	}
	if !reachLater(err) || ctx.Err() != nil {
		return nil, fmt.Errorf("target %q (type %s): open: %w", tc.Name, tc.Type, err)
	}
	return reconnect(ctx, tc, cfg, env, err, retry), nil
}

// config decodes and validates tc's config.
func (r Registry) config(tc TargetConfig) (Config, error) {
	fail := func(field string, err error) (Config, error) {
		return nil, &ConfigError{Target: tc.Name, Field: field, Err: err}
	}
	switch err := CheckName(tc.Name); {
	case tc.Name == "":
		return fail("name", fmt.Errorf("required (a target of type %q has none)", tc.Type))
	case err != nil:
		return fail("name", err)
	case tc.Type == "":
		return fail("type", errors.New("required"))
	}
	newConfig, ok := r[tc.Type]
	if !ok {
		known := make([]string, 0, len(r))
		for k := range r {
			known = append(known, k)
		}
		slices.Sort(known)
		return fail("type", fmt.Errorf("unknown type %q (known: %s)", tc.Type, strings.Join(known, ", ")))
	}
	cfg := newConfig()
	if err := decodeStrict(&tc.Config, cfg); err != nil {
		return fail("config", err)
	}
	if err := cfg.Validate(); err != nil {
		// A Validate that reports every invalid field joins their errors.
		errs := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
		out := make([]error, len(errs))
		for i, err := range errs {
			var fe *ConfigError
			if errors.As(err, &fe) {
				_, out[i] = fail("config."+fe.Field, fe.Err)
			} else {
				_, out[i] = fail("config", err)
			}
		}
		if len(out) == 1 {
			return nil, out[0]
		}
		return nil, errors.Join(out...)
	}
	return cfg, nil
}

// decodeStrict decodes n into v, refusing fields that v does not have. An
// absent or null node leaves v as it is. Messages give lines of the
// original document.
func decodeStrict(n *yaml.Node, v any) error {
	if n.Kind == 0 || n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	// Decoding the node itself reports wrong types at their own lines, but
	// yaml.v3 refuses unknown fields only in a Decoder: re-encode for that.
	err := n.Decode(v)
	if err == nil {
		var b []byte
		if b, err = yaml.Marshal(n); err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		err = dec.Decode(v)
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		// "line 2: field dsn not found in type sql.Config": the line is
		// the re-encoded one; report the key's line in n.
		if f := unknownField.FindStringSubmatch(m); f != nil {
			m = fmt.Sprintf("line %d: unknown field %q (in %s)", keyLine(n, f[1]), f[1], f[2])
		}
		msgs[i] = m
	}
	return errors.New(strings.Join(msgs, "; "))
}

var unknownField = regexp.MustCompile(`^line \d+: field (.+?) not found in type (.+)$`)

// keyLine returns the line of the first mapping key named key in n, or n's line.
func keyLine(n *yaml.Node, key string) int {
	var find func(n *yaml.Node) int
	find = func(n *yaml.Node) int {
		for i, c := range n.Content {
			if n.Kind == yaml.MappingNode && i%2 == 0 && c.Value == key {
				return c.Line
			}
			if l := find(c); l > 0 {
				return l
			}
		}
		return 0
	}
	if l := find(n); l > 0 {
		return l
	}
	return n.Line
}

// CheckSecret is the part of ReadSecret that Validate does: it reports,
// as a FieldError, a secret given more than one way. It reads nothing.
func CheckSecret(field, inline, env, file string) error {
	n := 0
	for _, v := range []string{inline, env, file} {
		if v != "" {
			n++
		}
	}
	if n > 1 {
		return FieldError(field, "give only one of %[1]s, %[1]s_env and %[1]s_file", field)
	}
	return nil
}

// ReadSecret returns a secret setting of a connector's configuration,
// given inline, by environment variable or by file (its content without
// the final line break): field, field_env and field_file, at most one of
// them (CheckSecret); "" when none is given. Connectors call it in Open.
// Errors name the field and never contain the value.
func ReadSecret(field, inline, env, file string) (string, error) {
	if err := CheckSecret(field, inline, env, file); err != nil {
		return "", err
	}
	switch {
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", FieldError(field+"_env", "environment variable %s is not set or empty", env)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", FieldError(field+"_file", "%v", err)
		}
		v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if v == "" {
			return "", FieldError(field+"_file", "%s is empty", file)
		}
		return v, nil
	}
	return inline, nil
}
