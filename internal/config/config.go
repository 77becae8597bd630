// Package config holds scimgate's configuration: the Config struct with its
// defaults, loading from a YAML file and SCIMGATE_* environment variables, and
// validation.
//
// Precedence, lowest first: Defaults, the YAML file, the environment, then
// command-line flags. Flags are the caller's: it sets the exported fields of
// the Config that Load returned (only for flags the user actually set), then
// calls Validate.
//
// Secrets (the static bearer tokens) have the type Secret, which prints, logs
// and marshals as "[REDACTED]"; Config also implements slog.LogValuer, and
// logs a target's name and type only, never its connector's config.
package config

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/internal/alert"
	"github.com/scimgate/scimgate/internal/entra"
	"github.com/scimgate/scimgate/internal/guest"
	"github.com/scimgate/scimgate/internal/notify"
	"github.com/scimgate/scimgate/internal/review"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
	"github.com/scimgate/scimgate/internal/workflow"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/targets"
)

// Defaults of the settings that also have command-line flags.
const (
	DefaultListen  = "127.0.0.1:8080"
	DefaultDataDir = "./data"
)

// DatabaseFile is the gateway's SQLite database under DataDir.
const DatabaseFile = "scimgate.db"

// Config is the whole gateway configuration. The yaml tags are the names in
// the configuration file; see EnvNames for the environment variables.
type Config struct {
	// Listen is the HOST:PORT the server listens on.
	Listen string `yaml:"listen"`
	// DataDir is the directory of the gateway's durable state.
	DataDir string `yaml:"data_dir"`
	// Store is the database of that state: SQLite under DataDir, or a
	// PostgreSQL or MariaDB/MySQL database that replicas share.
	Store Store `yaml:"store"`
	// PublicURL is the external base URL, scheme://host[:port] without path,
	// used for Location and meta.location; "" derives it from the request.
	PublicURL string `yaml:"public_url"`
	Log       Log    `yaml:"log"`
	TLS       TLS    `yaml:"tls"`
	Server    Server `yaml:"server"`
	SCIM      SCIM   `yaml:"scim"`
	Auth      Auth   `yaml:"auth"`
	Admin     Admin  `yaml:"admin"`
	Engine    Engine `yaml:"engine"`
	Audit     Audit  `yaml:"audit"`
	// Targets are the provisioning targets (YAML only).
	Targets []Target `yaml:"targets"`
	// Entra is the Microsoft Entra tenant that the Entra actions of the
	// admin API (and scimgate entra) call through Microsoft Graph; nil
	// without an entra section (YAML only).
	Entra *entra.Config `yaml:"entra"`
	// Notifications are the email (SMTP) and webhook channels that
	// workflows and alerts send through; nil without a notifications
	// section (YAML only).
	Notifications *notify.Config `yaml:"notifications"`
	// Workflows are the lifecycle workflows (YAML only; see package
	// workflow and examples/workflows.yaml).
	Workflows []workflow.Config `yaml:"workflows"`
	// Alerts are the alert rules (YAML only; see package alert), sent
	// through the notifications section's channels; nil without any.
	Alerts *alert.Config `yaml:"alerts"`
	// Guests is the guest lifecycle (YAML only; see package guest).
	Guests *guest.Config `yaml:"guests"`
	// Reviews are the access reviews (YAML only; see package review).
	Reviews []review.Config `yaml:"reviews"`
}

// Store is the gateway's database.
type Store struct {
	// Type is sqlite (the default: DataDir/scimgate.db), postgres or
	// mysql (MariaDB 10.6+ or MySQL 8+).
	Type string `yaml:"type"`
	// DSN (or DSNEnv, an environment variable, or DSNFile, a file,
	// holding it) is the database of postgres (a postgres:// URL or
	// key=value string) or mysql (user:password@tcp(host:port)/database).
	DSN     Secret `yaml:"dsn"`
	DSNEnv  string `yaml:"dsn_env"`
	DSNFile string `yaml:"dsn_file"`
	// LeaseTTL is how long the lease of the replica that runs the
	// background work lasts (it renews it every fifth of that): another
	// replica takes over within it when that one dies.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
}

// The store types.
const (
	StoreSQLite   = "sqlite"
	StorePostgres = "postgres"
	StoreMySQL    = "mysql"
)

// Shared reports whether the store is a database server that several
// gateways (replicas) may share, rather than the embedded SQLite file.
func (s Store) Shared() bool { return s.Type != "" && s.Type != StoreSQLite }

// OpenStore opens the store the configuration names and brings its schema
// up to date; it reads the DSN's variable or file.
func (c Config) OpenStore(ctx context.Context) (*sqlstore.SQL, error) {
	if !c.Store.Shared() {
		return sqlstore.OpenSQLite(ctx, filepath.Join(c.DataDir, DatabaseFile))
	}
	dsn, err := targets.ReadSecret("store.dsn", string(c.Store.DSN), c.Store.DSNEnv, c.Store.DSNFile)
	if err != nil {
		return nil, err
	}
	if c.Store.Type == StorePostgres {
		return sqlstore.OpenPostgres(ctx, dsn)
	}
	return sqlstore.OpenMySQL(ctx, dsn)
}

// Log configures the process logger.
type Log struct {
	// Level is debug, info, warn or error (case-insensitive).
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// TLS configures HTTPS. Both files or neither must be set; when set, the
// server must speak TLS 1.2 or later only.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Server holds the HTTP server's timeouts (all positive).
type Server struct {
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	// ShutdownTimeout bounds the graceful shutdown on SIGTERM/SIGINT.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// SCIM configures the SCIM protocol endpoint.
type SCIM struct {
	// BasePath is the URL path prefix of the SCIM endpoint, e.g. /scim/v2.
	// It starts with "/" and has no trailing "/", except "/" itself (root).
	BasePath string `yaml:"base_path"`
	// MaxBodyBytes limits a request body (413 beyond); /Bulk uses
	// Bulk.MaxPayloadBytes instead.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxResults caps count per page (ServiceProviderConfig filter.maxResults).
	MaxResults int `yaml:"max_results"`
	// DefaultCount is the page size when a request gives no count.
	DefaultCount int `yaml:"default_count"`
	// QueryTimeout bounds the store reads of one GET or .search request;
	// past it the query is stopped and the request answers 503. Shorter
	// than server.write_timeout, so that the answer can be written.
	QueryTimeout     time.Duration `yaml:"query_timeout"`
	Bulk             Bulk          `yaml:"bulk"`
	CustomExtensions []Extension   `yaml:"custom_extensions"`
}

// Bulk configures the /Bulk endpoint (ServiceProviderConfig bulk.*).
type Bulk struct {
	MaxOperations   int   `yaml:"max_operations"`
	MaxPayloadBytes int64 `yaml:"max_payload_bytes"`
}

// Extension is an extra schema extending User or Group, such as Entra's
// "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";
// scim.ResourceTypes builds the resource types with them.
type Extension = scim.CustomExtension

// Attribute is one single-level attribute of an Extension.
type Attribute = scim.CustomAttribute

// Auth configures how SCIM requests are authenticated. Static tokens and JWT
// validation may be combined; with neither, every request is rejected.
type Auth struct {
	// Tokens are accepted static bearer secrets; several allow rotation.
	Tokens []Secret `yaml:"tokens"`
	// TokenFiles are files that each hold one static bearer secret
	// (surrounding whitespace trimmed); they are read by the authenticator.
	TokenFiles []string `yaml:"token_files"`
	JWT        JWT      `yaml:"jwt"`
}

// Admin configures the credentials of the admin API (/admin/v1), which are
// never those of SCIM. Without any, the gateway generates one token in
// <data_dir>/admin-token.
type Admin struct {
	// Tokens are accepted static bearer secrets.
	Tokens []Secret `yaml:"tokens"`
	// TokenFiles are files that each hold one static bearer secret.
	TokenFiles []string `yaml:"token_files"`
}

// Engine tunes the delivery of operations to the targets.
type Engine struct {
	// Concurrency is how many objects a target receives operations for at
	// the same time.
	Concurrency int `yaml:"concurrency"`
	// MaxAttempts: an operation that failed that many times becomes a dead
	// letter.
	MaxAttempts int `yaml:"max_attempts"`
	// MaxAge: an operation still failing that long after it was queued
	// becomes a dead letter.
	MaxAge time.Duration `yaml:"max_age"`
	// BackoffBase and BackoffMax bound the delay before a retry: the base
	// doubled per attempt, at most the max, with jitter.
	BackoffBase time.Duration `yaml:"backoff_base"`
	BackoffMax  time.Duration `yaml:"backoff_max"`
}

// Audit configures the audit log.
type Audit struct {
	// Retention is how long entries are kept.
	Retention time.Duration `yaml:"retention"`
}

// JWT configures validation of OAuth 2.0 JWT bearer tokens. Issuer,
// Audiences and exactly one of JWKSURL/JWKSFile go together.
type JWT struct {
	// Issuer must equal the token's iss exactly,
	// e.g. https://sts.windows.net/<tenant-id>/.
	Issuer string `yaml:"issuer"`
	// Audiences are accepted values of the token's aud (one must match).
	Audiences []string `yaml:"audiences"`
	// JWKSURL is where the signing keys are fetched (https; http only for
	// loopback hosts).
	JWKSURL string `yaml:"jwks_url"`
	// JWKSFile is a local JWKS document, instead of JWKSURL.
	JWKSFile string `yaml:"jwks_file"`
}

// Enabled reports whether any JWT setting is present.
func (j JWT) Enabled() bool {
	return j.Issuer != "" || len(j.Audiences) > 0 || j.JWKSURL != "" || j.JWKSFile != ""
}

// Enabled reports whether any authentication method is configured.
func (a Auth) Enabled() bool {
	return len(a.Tokens) > 0 || len(a.TokenFiles) > 0 || a.JWT.Enabled()
}

// Enabled reports whether TLS is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// SlogLevel returns Level as a slog.Level (Info if Level is invalid; Validate
// reports that).
func (l Log) SlogLevel() slog.Level {
	switch strings.ToLower(l.Level) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Secret is a string that must never be disclosed: it formats (fmt),
// logs (slog) and marshals (JSON, YAML) as "[REDACTED]" unless empty. Convert
// with string(s) to use the value.
type Secret string

const redacted = "[REDACTED]"

var (
	_ fmt.Stringer   = Secret("")
	_ fmt.GoStringer = Secret("")
	_ slog.LogValuer = Secret("")
	_ slog.LogValuer = Config{}
)

func (s Secret) mask() string {
	if s == "" {
		return ""
	}
	return redacted
}

// String returns "[REDACTED]", or "" for an empty secret.
func (s Secret) String() string { return s.mask() }

// GoString returns the redacted form, for %#v.
func (s Secret) GoString() string { return fmt.Sprintf("%q", s.mask()) }

// LogValue returns the redacted form.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.mask()) }

// MarshalText returns the redacted form, so that JSON and YAML output never
// holds the secret.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.mask()), nil }

// LogValue renders the configuration as nested groups named like the YAML
// keys (slices of structs or of secrets by index: targets.0.name), in every
// slog handler alike. What is redacted is decided by type at any depth: a
// value that implements slog.LogValuer (Secret, Target) is rendered by it,
// and a yaml.Node (a connector's raw config) is never rendered.
func (c Config) LogValue() slog.Value {
	v, _ := logValue(reflect.ValueOf(c), false)
	return v
}

var (
	logValuerType = reflect.TypeFor[slog.LogValuer]()
	yamlNodeType  = reflect.TypeFor[yaml.Node]()
)

// logValue returns the log form of v, and false for a value never logged.
// self is false for the Config whose LogValue calls it.
func logValue(v reflect.Value, self bool) (slog.Value, bool) {
	t := v.Type()
	switch {
	case t == yamlNodeType || t.Kind() == reflect.Pointer && t.Elem() == yamlNodeType:
		return slog.Value{}, false
	case t.Kind() == reflect.Pointer && v.IsNil():
		return slog.AnyValue(nil), true
	case self && t.Implements(logValuerType):
		return slog.AnyValue(v.Interface()), true // the handler resolves it
	case t.Kind() == reflect.Pointer:
		return logValue(v.Elem(), true)
	case t.Kind() == reflect.Struct:
		var attrs []slog.Attr
		for i := range v.NumField() {
			if fv, ok := logValue(v.Field(i), true); ok {
				attrs = append(attrs, slog.Attr{Key: yamlName(t.Field(i)), Value: fv})
			}
		}
		return slog.GroupValue(attrs...), true
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && walked(t.Elem()):
		// slog renders a slice itself (fmt, encoding/json), not through
		// the LogValuers of its elements: give each element its own key.
		attrs := make([]slog.Attr, 0, v.Len())
		for i := range v.Len() {
			if ev, ok := logValue(v.Index(i), true); ok {
				attrs = append(attrs, slog.Attr{Key: strconv.Itoa(i), Value: ev})
			}
		}
		return slog.GroupValue(attrs...), true
	}
	return slog.AnyValue(v.Interface()), true
}

// walked reports whether logValue renders values of type t itself, rather
// than leaving them to the handler's fmt or encoding/json.
func walked(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct || t.Implements(logValuerType)
}

// Defaults returns the built-in configuration.
func Defaults() Config {
	return Config{
		Listen:  DefaultListen,
		DataDir: DefaultDataDir,
		Log:     Log{Level: "info", Format: "text"},
		Server: Server{
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       60 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       120 * time.Second,
			ShutdownTimeout:   30 * time.Second,
		},
		SCIM: SCIM{
			BasePath:     "/scim/v2",
			MaxBodyBytes: 1 << 20,
			MaxResults:   1000,
			DefaultCount: 100,
			QueryTimeout: 10 * time.Second,
			Bulk:         Bulk{MaxOperations: 1000, MaxPayloadBytes: 1 << 20},
		},
		Engine: Engine{Concurrency: 4, MaxAttempts: 50, MaxAge: 72 * time.Hour, BackoffBase: time.Second, BackoffMax: 5 * time.Minute},
		Audit:  Audit{Retention: 90 * 24 * time.Hour},
		Store:  Store{LeaseTTL: 15 * time.Second},
	}
}

// Load returns Defaults overlaid with the YAML file at path (if path is not
// "") and then with the SCIMGATE_* variables of environ (os.Environ format).
// If path is "", the file named by SCIMGATE_CONFIG (if set) is read instead.
// Unknown YAML keys, unknown SCIMGATE_* variables and unparsable values are
// errors. Load does not validate: apply flags to the result, then call
// Validate.
func Load(path string, environ []string) (Config, error) {
	cfg := Defaults()
	env := scimgateEnv(environ)
	if path == "" {
		path = env[EnvConfigFile]
	}
	if path != "" {
		if err := cfg.loadFile(path); err != nil {
			return Config{}, err
		}
	}
	if err := cfg.applyEnv(env); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func (c *Config) loadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// yamlName is the key of a struct field in the YAML file.
func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "" {
		panic("config: field " + f.Name + " has no yaml tag")
	}
	return name
}
