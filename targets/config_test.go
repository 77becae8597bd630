package targets_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// testConfig is a connector type with a required field and a nested one.
type testConfig struct {
	DSN  string `yaml:"dsn"`
	Pool int    `yaml:"pool"`
	TLS  struct {
		CAFile string `yaml:"ca_file"`
	} `yaml:"tls"`
}

// Validate reports every invalid field, as errors.Join of FieldErrors.
func (c *testConfig) Validate() error {
	var errs []error
	if c.DSN == "" {
		errs = append(errs, targets.FieldError("dsn", "required"))
	}
	if c.Pool < 0 {
		errs = append(errs, targets.FieldError("pool", "must not be negative, got %d", c.Pool))
	}
	return errors.Join(errs...)
}

func (c *testConfig) Provides() targets.Capabilities {
	return targets.Capabilities{Groups: true, Disable: true}
}

func (c *testConfig) Open(ctx context.Context, _ targets.Env) (targets.Connector, error) {
	if c.DSN == "fail" {
		return nil, errors.New("connection refused")
	}
	return memory.New(memory.Config{}), ctx.Err()
}

var testRegistry = targets.Registry{
	"sql":    func() targets.Config { return &testConfig{Pool: 4} },
	"memory": func() targets.Config { return new(memory.Config) },
}

// parseTargets reads a "targets:" list.
func parseTargets(t *testing.T, doc string) []targets.TargetConfig {
	t.Helper()
	var f struct {
		Targets []targets.TargetConfig `yaml:"targets"`
	}
	if err := yaml.Unmarshal([]byte(doc), &f); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	return f.Targets
}

func TestRegistryValidate(t *testing.T) {
	tests := []struct {
		name      string
		doc       string
		wantField string // Field of the *ConfigError; "" when valid
		wantMsg   string // text the error must contain
	}{
		{"valid", `
targets:
  - name: hr-db
    type: sql
    config:
      dsn: postgres://x
  - name: mem
    type: memory
`, "", ""},
		{"missing name", `
targets:
  - type: sql
    config: {dsn: x}
`, "name", `name: required (a target of type "sql" has none)`},
		{"bad name", `
targets:
  - name: hr db
    type: sql
    config: {dsn: x}
`, "name", "letters, digits"},
		{"missing type", `
targets:
  - name: hr
`, "type", `target "hr": type: required`},
		{"unknown type", `
targets:
  - name: hr
    type: ldapp
`, "type", `unknown type "ldapp" (known: memory, sql)`},
		{"unknown field", `
targets:
  - name: hr
    type: sql
    config:
      dsn: x
      tls:
        ca_fil: /etc/ca.pem
`, "config", `line 8: unknown field "ca_fil" (in struct`},
		{"wrong value type", `
targets:
  - name: hr
    type: sql
    config:
      dsn: x
      pool: many
`, "config", "line 7: cannot unmarshal !!str `many` into int"},
		{"invalid field", `
targets:
  - name: hr
    type: sql
    config:
      pool: 2
`, "config.dsn", `target "hr": config.dsn: required`},
		{"invalid field with value", `
targets:
  - name: hr
    type: sql
    config: {dsn: x, pool: -1}
`, "config.pool", "must not be negative, got -1"},
		{"invalid memory config", `
targets:
  - name: mem
    type: memory
    config:
      unique: {Users: [userName]}
`, "config.unique", `unknown kind "Users"`},
		{"duplicate names", `
targets:
  - {name: a, type: memory}
  - {name: a, type: memory}
`, "name", `target "a": name: duplicate target name`},
		{"names differing only in case", `
targets:
  - {name: hr-db, type: memory}
  - {name: HR-DB, type: memory}
`, "name", `target "HR-DB": name: duplicate target name ("hr-db" differs only in case)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := testRegistry.Validate(parseTargets(t, tt.doc)...)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ce *targets.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Validate: %v, want a *targets.ConfigError", err)
			}
			if ce.Field != tt.wantField {
				t.Errorf("Field = %q, want %q (%v)", ce.Field, tt.wantField, err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestRegistryValidateReportsEveryTarget(t *testing.T) {
	err := testRegistry.Validate(parseTargets(t, `
targets:
  - {name: a, type: nope}
  - {name: b, type: sql}
`)...)
	for _, want := range []string{`target "a": type`, `target "b": config.dsn`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want it to contain %q", err, want)
		}
	}
}

// TestRegistryValidateReportsEveryField: a Validate that joins the errors
// of several fields has each reported with its target and field.
func TestRegistryValidateReportsEveryField(t *testing.T) {
	err := testRegistry.Validate(parseTargets(t, `
targets:
  - {name: a, type: sql, config: {pool: -1}}
`)...)
	for _, want := range []string{`target "a": config.dsn: required`, `target "a": config.pool: must not be negative`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want it to contain %q", err, want)
		}
	}
	var ce *targets.ConfigError
	if !errors.As(err, &ce) || ce.Target != "a" || ce.Field != "config.dsn" {
		t.Errorf("Validate: %v, want a *targets.ConfigError of target a, field config.dsn first", err)
	}
}

func TestRegistryBuild(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantErr string
	}{
		{"ok", "targets: [{name: hr, type: sql, config: {dsn: x}}]", ""},
		{"defaults kept", "targets: [{name: hr, type: sql, config: {dsn: x}}]", ""},
		{"invalid", "targets: [{name: hr, type: sql}]", `target "hr": config.dsn: required`},
		{"open fails", "targets: [{name: hr, type: sql, config: {dsn: fail}}]", `target "hr" (type sql): open: connection refused`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := testRegistry.Build(context.Background(), parseTargets(t, tt.doc)[0], targets.Env{}, targets.Retry{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Build: %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || c == nil {
				t.Fatalf("Build: %v, %v", c, err)
			}
			defer c.Close(context.Background())
			if !c.Capabilities().Groups {
				t.Errorf("built connector has no groups")
			}
		})
	}
}

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	file := func(content string) string {
		p := filepath.Join(dir, fmt.Sprint(len(content), "-secret"))
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("SCIMGATE_TEST_SECRET", "from-env")
	tests := []struct {
		name, inline, env, file string
		want, wantErr           string
	}{
		{name: "inline", inline: "s3cret", want: "s3cret"},
		{name: "env", env: "SCIMGATE_TEST_SECRET", want: "from-env"},
		{name: "file without its line break", file: file("from-file\r\n"), want: "from-file"},
		{name: "none", want: ""},
		{name: "two ways", inline: "a", env: "SCIMGATE_TEST_SECRET", wantErr: "password: give only one of password, password_env and password_file"},
		{name: "unset env", env: "SCIMGATE_TEST_UNSET", wantErr: "password_env: environment variable SCIMGATE_TEST_UNSET is not set or empty"},
		{name: "empty file", file: file("\n"), wantErr: "password_file: "},
		{name: "missing file", file: filepath.Join(dir, "nope"), wantErr: "password_file: open "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := targets.ReadSecret("password", tt.inline, tt.env, tt.file)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("ReadSecret: %q, %v; want an error starting %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ReadSecret = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestTargetConfigLogValue: a target configuration logs its name and type,
// never its config, in every slog handler.
func TestTargetConfigLogValue(t *testing.T) {
	var node yaml.Node
	if err := yaml.Unmarshal([]byte("dsn: user:s3cr3t-0001@tcp(db)/x\npassword: s3cr3t-0002"), &node); err != nil {
		t.Fatal(err)
	}
	tc := targets.TargetConfig{Name: "hr-db", Type: "sql", Config: *node.Content[0]}
	tests := []struct {
		name    string
		handler func(io.Writer) slog.Handler
		want    string
	}{
		{name: "text", handler: func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) }, want: "target.name=hr-db target.type=sql"},
		{name: "json", handler: func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, nil) }, want: `"target":{"name":"hr-db","type":"sql"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf strings.Builder
			slog.New(tt.handler(&buf)).Info("open", "target", tc)
			if !strings.Contains(buf.String(), tt.want) {
				t.Errorf("log line %q lacks %q", buf.String(), tt.want)
			}
			if strings.Contains(buf.String(), "s3cr3t") {
				t.Errorf("config logged: %q", buf.String())
			}
		})
	}
}

// TestCheckName: the one target-name rule of the gateway (its connectors'
// registry and its policy).
func TestCheckName(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"letters and digits", "hrDB2", true},
		{"dot, underscore, dash", "hr.db_eu-1", true},
		{"starts with a digit", "1crm", true},
		{"one character", "a", true},
		{"63 characters", strings.Repeat("a", 63), true},
		{"64 characters", strings.Repeat("a", 64), false},
		{"empty", "", false},
		{"starts with a dash", "-crm", false},
		{"starts with a dot", ".crm", false},
		{"space", "hr db", false},
		{"slash", "hr/db", false},
		{"non-ASCII letter", "crmé", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := targets.CheckName(tt.in); (err == nil) != tt.ok {
				t.Errorf("CheckName(%q) = %v, want ok %v", tt.in, err, tt.ok)
			}
		})
	}
	if targets.NameKey("HR-db") != targets.NameKey("hr-DB") || targets.NameKey("hr") == targets.NameKey("hr2") {
		t.Error("NameKey: names differing only in case must share a key, others not")
	}
}
