package config_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/targets/registry"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func TestLoad(t *testing.T) {
	full := config.Defaults()
	full.Listen = "0.0.0.0:8443"
	full.DataDir = "/var/lib/scimgate"
	full.PublicURL = "https://scim.example.com"
	full.Log = config.Log{Level: "debug", Format: "json"}
	full.TLS = config.TLS{CertFile: "/etc/scimgate/tls.crt", KeyFile: "/etc/scimgate/tls.key"}
	full.Server = config.Server{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      time.Minute,
		IdleTimeout:       150 * time.Second,
		ShutdownTimeout:   10 * time.Second,
	}
	full.SCIM = config.SCIM{
		BasePath:     "/scim",
		MaxBodyBytes: 2 << 20,
		MaxResults:   200,
		DefaultCount: 50,
		QueryTimeout: 5 * time.Second,
		Bulk:         config.Bulk{MaxOperations: 100, MaxPayloadBytes: 4 << 20},
		CustomExtensions: []config.Extension{{
			URN:      "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User",
			Resource: "User",
			Attributes: []config.Attribute{
				{Name: "costCenterCode", Type: "string"},
				{Name: "badgeNumbers", Type: "integer", MultiValued: true, CaseExact: true, Required: true, Description: "Physical access badges"},
			},
		}},
	}
	full.Auth = config.Auth{
		Tokens:     []config.Secret{"token-from-yaml-1-0123456789abcdef", "token-from-yaml-2-0123456789abcdef"},
		TokenFiles: []string{"/run/secrets/scim-token"},
		JWT: config.JWT{
			Issuer:    "https://sts.windows.net/00000000-0000-0000-0000-000000000001/",
			Audiences: []string{"8adf8e6e-67b2-4cf2-a259-e3dc5476c621"},
			JWKSURL:   "https://login.microsoftonline.com/common/discovery/keys",
		},
	}

	// with returns the defaults changed by f.
	with := func(f func(c *config.Config)) config.Config {
		c := config.Defaults()
		f(&c)
		return c
	}
	partial := func(c *config.Config) {
		c.Server.ReadTimeout = 45 * time.Second
		c.SCIM.MaxResults = 500
		c.Auth.Tokens = []config.Secret{"token-from-yaml"}
	}

	tests := []struct {
		name    string
		path    string
		env     []string
		want    config.Config
		wantErr []string // substrings of the error
	}{
		{name: "defaults", want: config.Defaults()},
		{name: "yaml spelling out the defaults", path: "testdata/defaults.yaml", want: config.Defaults()},
		{name: "empty yaml file", path: "testdata/empty.yaml", want: config.Defaults()},
		{name: "yaml with every setting", path: "testdata/full.yaml", want: full},
		{name: "partial yaml keeps other defaults", path: "testdata/partial.yaml", want: with(partial)},
		{
			name: "config path from SCIMGATE_CONFIG",
			env:  []string{"SCIMGATE_CONFIG=testdata/partial.yaml"},
			want: with(partial),
		},
		{
			name: "path argument wins over SCIMGATE_CONFIG",
			path: "testdata/empty.yaml",
			env:  []string{"SCIMGATE_CONFIG=testdata/partial.yaml"},
			want: config.Defaults(),
		},
		{
			name: "env overrides yaml which overrides defaults",
			path: "testdata/partial.yaml",
			env:  []string{"SCIMGATE_SCIM_MAX_RESULTS=50", "SCIMGATE_AUTH_TOKENS=env-1, env-2,"},
			want: with(func(c *config.Config) {
				partial(c)
				c.SCIM.MaxResults = 50
				c.Auth.Tokens = []config.Secret{"env-1", "env-2"}
			}),
		},
		{
			name: "env of every kind",
			env: []string{
				"SCIMGATE_LISTEN=:9000",
				"SCIMGATE_DATA_DIR=/data",
				"SCIMGATE_LOG_LEVEL=warn",
				"SCIMGATE_TLS_CERT_FILE=c.pem",
				"SCIMGATE_SERVER_READ_TIMEOUT=1m30s",
				"SCIMGATE_SCIM_MAX_BODY_BYTES=2097152",
				"SCIMGATE_SCIM_BULK_MAX_OPERATIONS=7",
				"SCIMGATE_AUTH_TOKEN_FILES=/a,/b",
				"SCIMGATE_AUTH_JWT_ISSUER=https://sts.windows.net/t/",
				"SCIMGATE_AUTH_JWT_AUDIENCES=aud-1",
				"PATH=/usr/bin", // not ours: ignored
			},
			want: with(func(c *config.Config) {
				c.Listen = ":9000"
				c.DataDir = "/data"
				c.Log.Level = "warn"
				c.TLS.CertFile = "c.pem"
				c.Server.ReadTimeout = 90 * time.Second
				c.SCIM.MaxBodyBytes = 2 << 20
				c.SCIM.Bulk.MaxOperations = 7
				c.Auth.TokenFiles = []string{"/a", "/b"}
				c.Auth.JWT.Issuer = "https://sts.windows.net/t/"
				c.Auth.JWT.Audiences = []string{"aud-1"}
			}),
		},
		{
			name: "last duplicate env entry wins and empty values are ignored",
			env:  []string{"SCIMGATE_LISTEN=:1", "SCIMGATE_LISTEN=:2", "SCIMGATE_DATA_DIR="},
			want: with(func(c *config.Config) { c.Listen = ":2" }),
		},
		{
			name: "SCIMGATE_SCIM_TOKEN adds one token, commas included",
			path: "testdata/partial.yaml",
			env:  []string{"SCIMGATE_SCIM_TOKEN=alias,token"},
			want: with(func(c *config.Config) {
				partial(c)
				c.Auth.Tokens = []config.Secret{"token-from-yaml", "alias,token"}
			}),
		},
		{
			name: "SCIMGATE_SCIM_TOKEN adds to SCIMGATE_AUTH_TOKENS",
			env:  []string{"SCIMGATE_SCIM_TOKEN=alias", "SCIMGATE_AUTH_TOKENS=a,b"},
			want: with(func(c *config.Config) { c.Auth.Tokens = []config.Secret{"a", "b", "alias"} }),
		},
		{
			name:    "unknown yaml key names key and line",
			path:    "testdata/unknown_key.yaml",
			wantErr: []string{"testdata/unknown_key.yaml", "line 3", "field max_result not found"},
		},
		{
			name:    "yaml duration without unit",
			path:    "testdata/bad_duration.yaml",
			wantErr: []string{"line 2", "time.Duration"},
		},
		{
			name:    "missing file",
			path:    "testdata/nonexistent.yaml",
			wantErr: []string{"config file", "testdata/nonexistent.yaml", "no such file"},
		},
		{
			name:    "bad env integer",
			env:     []string{"SCIMGATE_SCIM_MAX_BODY_BYTES=1MB"},
			wantErr: []string{`SCIMGATE_SCIM_MAX_BODY_BYTES: invalid integer "1MB"`},
		},
		{
			name:    "bad env duration",
			env:     []string{"SCIMGATE_SERVER_IDLE_TIMEOUT=120"},
			wantErr: []string{`SCIMGATE_SERVER_IDLE_TIMEOUT: invalid duration "120"`},
		},
		{
			name: "unknown env variable and bad value reported together",
			env:  []string{"SCIMGATE_AUTH_TOKEN=x", "SCIMGATE_SCIM_MAX_RESULTS=many"},
			wantErr: []string{
				"SCIMGATE_AUTH_TOKEN: unknown variable",
				`SCIMGATE_SCIM_MAX_RESULTS: invalid integer "many"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.Load(tt.path, tt.env)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("Load: no error, want one containing %q", tt.wantErr)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("Load error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				// %#v redacts the tokens: show them too.
				t.Errorf("Load:\n got %#v\nwant %#v\ntokens: got %q, want %q",
					got, tt.want, tokenStrings(got.Auth.Tokens), tokenStrings(tt.want.Auth.Tokens))
			}
		})
	}
}

func tokenStrings(tokens []config.Secret) []string {
	var out []string
	for _, tok := range tokens {
		out = append(out, string(tok))
	}
	return out
}

// TestEnvNames keeps testdata/env.golden, the list of supported variables,
// in step with the Config struct; run with -update after changing it.
func TestEnvNames(t *testing.T) {
	got := strings.Join(config.EnvNames(), "\n") + "\n"
	golden := filepath.Join("testdata", "env.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("EnvNames differ from %s (rerun with -update):\n%s", golden, got)
	}
}

// TestEveryEnvNameIsAccepted sets each variable to a value of its kind.
func TestEveryEnvNameIsAccepted(t *testing.T) {
	values := map[string]string{"TIMEOUT": "5s", "BYTES": "4096", "RESULTS": "10", "COUNT": "10", "OPERATIONS": "10",
		"RETENTION": "24h", "BACKOFF_BASE": "1s", "BACKOFF_MAX": "1m", "CONCURRENCY": "8", "MAX_AGE": "1h", "ATTEMPTS": "5", "TTL": "20s"}
	for _, name := range config.EnvNames() {
		t.Run(name, func(t *testing.T) {
			v := "x"
			for suffix, val := range values {
				if strings.HasSuffix(name, suffix) {
					v = val
				}
			}
			if name == config.EnvConfigFile {
				v = "testdata/empty.yaml"
			}
			if _, err := config.Load("", []string{name + "=" + v}); err != nil {
				t.Errorf("Load with %s=%s: %v", name, v, err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	ext := func(urn, resource string, attrs ...config.Attribute) config.Extension {
		return config.Extension{URN: urn, Resource: resource, Attributes: attrs}
	}
	str := func(name string) config.Attribute { return config.Attribute{Name: name, Type: "string"} }
	const entraUser = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"

	tests := []struct {
		name   string
		mutate func(c *config.Config)
		want   []string // every message, in order; nil means valid
	}{
		{name: "defaults are valid", mutate: func(*config.Config) {}},
		{name: "full example is valid", mutate: func(c *config.Config) {
			c.Listen = ":8443"
			c.PublicURL = "https://scim.example.com:8443"
			c.Log.Level = "DEBUG"
			c.TLS = config.TLS{CertFile: "c", KeyFile: "k"}
			c.SCIM.BasePath = "/"
			c.SCIM.CustomExtensions = []config.Extension{
				ext(entraUser, "User", str("costCenterCode"), config.Attribute{Name: "level", Type: "integer"}),
				ext("urn:acme:scim:2.0:Group", "Group", str("costCenterCode")),
			}
			c.Auth = config.Auth{
				Tokens:     []config.Secret{"a-0123456789abcdef0123456789abcdef", "b-0123456789abcdef0123456789abcdef"},
				TokenFiles: []string{"/run/secret"},
				JWT: config.JWT{
					Issuer:    "https://sts.windows.net/t/",
					Audiences: []string{"8adf8e6e-67b2-4cf2-a259-e3dc5476c621"},
					JWKSURL:   "http://127.0.0.1:1234/keys",
				},
			}
		}},
		{name: "listen without port", mutate: func(c *config.Config) { c.Listen = "localhost" },
			want: []string{"listen: must be HOST:PORT with a numeric port 0-65535, e.g. 127.0.0.1:8080 (empty host: all interfaces)"}},
		{name: "listen with named port", mutate: func(c *config.Config) { c.Listen = "localhost:http" },
			want: []string{"listen: must be HOST:PORT with a numeric port 0-65535, e.g. 127.0.0.1:8080 (empty host: all interfaces)"}},
		{name: "empty data dir", mutate: func(c *config.Config) { c.DataDir = "" },
			want: []string{"data_dir: must not be empty"}},
		{name: "public url with path", mutate: func(c *config.Config) { c.PublicURL = "https://scim.example.com/scim/" },
			want: []string{"public_url: must be scheme://host[:port] with scheme http or https and no path, query or fragment"}},
		{name: "public url without scheme", mutate: func(c *config.Config) { c.PublicURL = "scim.example.com" },
			want: []string{"public_url: must be scheme://host[:port] with scheme http or https and no path, query or fragment"}},
		{name: "log level and format", mutate: func(c *config.Config) { c.Log = config.Log{Level: "verbose", Format: "xml"} },
			want: []string{
				`log.level: unknown level "verbose" (want one of debug, info, warn, error)`,
				`log.format: unknown format "xml" (want text or json)`,
			}},
		{name: "tls cert without key", mutate: func(c *config.Config) { c.TLS.CertFile = "cert.pem" },
			want: []string{"tls: cert_file and key_file must both be set"}},
		{name: "zero and negative timeouts", mutate: func(c *config.Config) {
			c.Server.ReadHeaderTimeout = 0
			c.Server.ShutdownTimeout = -time.Second
		}, want: []string{
			"server.read_header_timeout: must be a positive duration such as 30s",
			"server.shutdown_timeout: must be a positive duration such as 30s",
		}},
		{name: "tokens shorter than 32 bytes", mutate: func(c *config.Config) {
			c.Auth.Tokens = []config.Secret{"a", "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdef"}
			c.Admin.Tokens = []config.Secret{"admin-0123456789abcdef0123456789", "short-admin"}
		}, want: []string{
			"auth.tokens[0]: must be at least 32 bytes long (generate one with: openssl rand -hex 32)",
			"auth.tokens[1]: must be at least 32 bytes long (generate one with: openssl rand -hex 32)",
			"admin.tokens[1]: must be at least 32 bytes long (generate one with: openssl rand -hex 32)",
		}},
		{name: "empty admin tokens", mutate: func(c *config.Config) {
			c.Admin = config.Admin{Tokens: []config.Secret{"other-0123456789abcdef0123456789", ""}, TokenFiles: []string{""}}
		}, want: []string{
			"admin.tokens[1]: must not be empty",
			"admin.token_files[0]: must not be empty",
		}},
		{name: "engine and audit settings", mutate: func(c *config.Config) {
			c.Engine = config.Engine{Concurrency: 0, MaxAttempts: -1, MaxAge: 0, BackoffBase: time.Minute, BackoffMax: time.Second}
			c.Audit.Retention = -time.Hour
		}, want: []string{
			"engine.concurrency: must be between 1 and 256",
			"engine.max_attempts: must be between 1 and 1000000",
			"engine.max_age: must be a positive duration such as 30s",
			"engine.backoff_max: must not be less than engine.backoff_base",
			"audit.retention: must be a positive duration such as 30s",
		}},
		{name: "base path relative", mutate: func(c *config.Config) { c.SCIM.BasePath = "scim/v2" },
			want: []string{"scim.base_path: must start with /"}},
		{name: "base path trailing slash", mutate: func(c *config.Config) { c.SCIM.BasePath = "/scim/v2/" },
			want: []string{"scim.base_path: must not end with / (use / alone for the root)"}},
		{name: "base path unclean", mutate: func(c *config.Config) { c.SCIM.BasePath = "/scim/../v2" },
			want: []string{"scim.base_path: must be a clean URL path without //, . or .. segments, spaces, %, ? or #"}},
		{name: "limits out of range", mutate: func(c *config.Config) {
			c.SCIM.MaxBodyBytes = 100
			c.SCIM.MaxResults = 0
			c.SCIM.DefaultCount = 5
			c.SCIM.Bulk = config.Bulk{MaxOperations: 100001, MaxPayloadBytes: 2 << 30}
		}, want: []string{
			"scim.max_body_bytes: must be between 1024 and 1073741824",
			"scim.max_results: must be between 1 and 100000",
			"scim.default_count: must be between 1 and scim.max_results (0)",
			"scim.bulk.max_operations: must be between 1 and 100000",
			"scim.bulk.max_payload_bytes: must be between 1024 and 1073741824",
		}},
		{name: "default count above max results", mutate: func(c *config.Config) { c.SCIM.DefaultCount = 1001 },
			want: []string{"scim.default_count: must be between 1 and scim.max_results (1000)"}},
		{name: "query timeout not positive", mutate: func(c *config.Config) { c.SCIM.QueryTimeout = 0 },
			want: []string{"scim.query_timeout: must be a positive duration such as 30s"}},
		{name: "query timeout not shorter than the write timeout", mutate: func(c *config.Config) { c.SCIM.QueryTimeout = time.Minute },
			want: []string{"scim.query_timeout: must be shorter than server.write_timeout (1m0s), or the answer cannot be written"}},
		{name: "extension attribute type typo", mutate: func(c *config.Config) {
			c.SCIM.CustomExtensions = []config.Extension{ext(entraUser, "User", str("a"), config.Attribute{Name: "b", Type: "strin"})}
		}, want: []string{
			`scim.custom_extensions[0].attributes[1].type: unknown type "strin" (want one of string, boolean, integer, decimal, dateTime, reference, binary)`,
		}},
		{name: "extension attribute names", mutate: func(c *config.Config) {
			c.SCIM.CustomExtensions = []config.Extension{ext(entraUser, "User", str("costCenter"), str("CostCenter"), str("1st"), str(""))}
		}, want: []string{
			`scim.custom_extensions[0].attributes[1].name: duplicate of scim.custom_extensions[0].attributes[0].name "CostCenter" (names are case-insensitive)`,
			`scim.custom_extensions[0].attributes[2].name: "1st" is not a SCIM attribute name (a letter, then letters, digits, _ or -)`,
			`scim.custom_extensions[0].attributes[3].name: "" is not a SCIM attribute name (a letter, then letters, digits, _ or -)`,
		}},
		{name: "extension urn collides with core and enterprise schemas", mutate: func(c *config.Config) {
			c.SCIM.CustomExtensions = []config.Extension{
				ext("urn:ietf:params:scim:schemas:core:2.0:User", "User", str("a")),
				ext("urn:ietf:params:scim:schemas:extension:Enterprise:2.0:User", "User", str("a")),
			}
		}, want: []string{
			`scim.custom_extensions[0].urn: "urn:ietf:params:scim:schemas:core:2.0:User" is a standard SCIM schema; choose another name`,
			`scim.custom_extensions[1].urn: "urn:ietf:params:scim:schemas:extension:Enterprise:2.0:User" is a standard SCIM schema; choose another name`,
		}},
		{name: "extension urn malformed", mutate: func(c *config.Config) {
			c.SCIM.CustomExtensions = []config.Extension{
				ext("costCenter", "User", str("a")),
				ext("urn:ietf:params:scim:schemas:extension:acme:1.0:User", "User", str("a")),
				ext("", "User", str("a")),
			}
		}, want: []string{
			`scim.custom_extensions[0].urn: "costCenter" is not of the form urn:<namespace>:...:2.0:User or :2.0:Group`,
			`scim.custom_extensions[1].urn: "urn:ietf:params:scim:schemas:extension:acme:1.0:User" is not of the form urn:<namespace>:...:2.0:User or :2.0:Group`,
			`scim.custom_extensions[2].urn: must be set (urn:<namespace>:...:2.0:User or :2.0:Group)`,
		}},
		{name: "extension resource mismatch, unknown and duplicate", mutate: func(c *config.Config) {
			c.SCIM.CustomExtensions = []config.Extension{
				ext(entraUser, "Group", str("a")),
				ext(entraUser, "Device"),
			}
		}, want: []string{
			"scim.custom_extensions[0].urn: must end with :2.0:Group to match resource Group",
			`scim.custom_extensions[1].resource: unknown resource "Device" (want User or Group)`,
			"scim.custom_extensions[1].urn: duplicate of scim.custom_extensions[0].urn",
			"scim.custom_extensions[1].attributes: must declare at least one attribute",
		}},
		{name: "bad static tokens", mutate: func(c *config.Config) {
			c.Auth.Tokens = []config.Secret{"", "has space"}
			c.Auth.TokenFiles = []string{""}
		}, want: []string{
			"auth.tokens[0]: must not be empty",
			"auth.tokens[1]: must consist of printable ASCII characters without spaces",
			"auth.token_files[0]: must not be empty",
		}},
		{name: "jwt issuer alone", mutate: func(c *config.Config) { c.Auth.JWT.Issuer = "https://sts.windows.net/t/" },
			want: []string{"auth.jwt: issuer, audiences and one of jwks_url/jwks_file are required together"}},
		{name: "jwt both key sources and plain http", mutate: func(c *config.Config) {
			c.Auth.JWT = config.JWT{Issuer: "i", Audiences: []string{"a", " "}, JWKSURL: "http://login.example.com/keys", JWKSFile: "k.json"}
		}, want: []string{
			"auth.jwt: jwks_url and jwks_file are mutually exclusive",
			"auth.jwt.audiences[1]: must not be empty",
			"auth.jwt.jwks_url: must be an https URL (http only for loopback hosts)",
		}},
		{name: "several problems at once", mutate: func(c *config.Config) {
			c.Listen = ""
			c.SCIM.BasePath = ""
			c.Auth.JWT.JWKSFile = "keys.json"
		}, want: []string{
			"listen: must be HOST:PORT with a numeric port 0-65535, e.g. 127.0.0.1:8080 (empty host: all interfaces)",
			"scim.base_path: must start with /",
			"auth.jwt: issuer, audiences and one of jwks_url/jwks_file are required together",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Defaults()
			tt.mutate(&c)
			err := c.Validate(registry.New(registry.Services{}))
			var got []string
			if err != nil {
				if !errors.Is(err, config.ErrInvalid) {
					t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
				}
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					var fe *config.FieldError
					if !errors.As(e, &fe) {
						t.Errorf("%v is not a *FieldError", e)
					}
					got = append(got, e.Error())
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Validate:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestAuthValidateOnlyAuth(t *testing.T) {
	c := config.Defaults()
	c.Listen = "bad"
	c.Auth.JWT.Issuer = "i"
	err := c.Auth.Validate()
	want := "auth.jwt: issuer, audiences and one of jwks_url/jwks_file are required together"
	if err == nil || err.Error() != want {
		t.Errorf("Auth.Validate() = %v, want %q", err, want)
	}
}

func TestEnabled(t *testing.T) {
	tests := []struct {
		name string
		auth config.Auth
		want bool
	}{
		{name: "nothing", want: false},
		{name: "token", auth: config.Auth{Tokens: []config.Secret{"t"}}, want: true},
		{name: "token file", auth: config.Auth{TokenFiles: []string{"f"}}, want: true},
		{name: "jwt", auth: config.Auth{JWT: config.JWT{JWKSFile: "k"}}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.auth.Enabled(); got != tt.want {
				t.Errorf("Enabled() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSlogLevel(t *testing.T) {
	tests := []struct {
		level string
		want  slog.Level
	}{
		{"debug", slog.LevelDebug}, {"INFO", slog.LevelInfo}, {"Warn", slog.LevelWarn}, {"error", slog.LevelError},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			if got := (config.Log{Level: tt.level}).SlogLevel(); got != tt.want {
				t.Errorf("SlogLevel() = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRedaction renders a configuration holding secrets every way it could
// reach a log or an error and checks that no secret survives.
func TestRedaction(t *testing.T) {
	secrets := []string{"s3cr3t-alpha-0001", "s3cr3t beta 0002", "s3cr3t-env-0003"}
	c := config.Defaults()
	c.Auth.Tokens = []config.Secret{config.Secret(secrets[0]), config.Secret(secrets[1])}

	loaded, err := config.Load("", []string{"SCIMGATE_SCIM_TOKEN=" + secrets[2]})
	if err != nil {
		t.Fatal(err)
	}

	// Each rendering must contain its marker and no secret.
	render := map[string]func() string{
		"fmt %v":      func() string { return fmt.Sprintf("%v", c) },
		"fmt %+v":     func() string { return fmt.Sprintf("%+v", c) },
		"fmt %#v":     func() string { return fmt.Sprintf("%#v", c) },
		"fmt %s auth": func() string { return fmt.Sprintf("%s", c.Auth) },
		"fmt loaded":  func() string { return fmt.Sprintf("%+v", loaded) },
		"slog text": func() string {
			var buf bytes.Buffer
			slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", c, "auth", c.Auth, "loaded", loaded)
			return buf.String()
		},
		"slog json": func() string {
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c, "tokens", c.Auth.Tokens)
			return buf.String()
		},
		"json": func() string {
			b, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		},
		"yaml": func() string {
			b, err := yaml.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		},
		"validate error": func() string { return c.Validate(registry.New(registry.Services{})).Error() },
	}
	for name, f := range render {
		t.Run(name, func(t *testing.T) {
			out := f()
			marker := "[REDACTED]"
			if name == "validate error" {
				marker = "auth.tokens[1]: "
			}
			if !strings.Contains(out, marker) {
				t.Errorf("no %s in %s", marker, out)
			}
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("secret %q disclosed in %s", s, out)
				}
			}
		})
	}
}

func TestLogValueNamesYAMLPaths(t *testing.T) {
	c := config.Defaults()
	c.Auth.Tokens = []config.Secret{"s3cr3t-token-0001"}
	var node yaml.Node
	if err := yaml.Unmarshal([]byte("dsn: user:s3cr3t-dsn-0002@tcp(db)/x"), &node); err != nil {
		t.Fatal(err)
	}
	c.Targets = []config.Target{{Name: "crm", Type: "sql", Config: *node.Content[0]}}
	tests := []struct {
		name    string
		handler func(io.Writer) slog.Handler
		want    []string
	}{
		{name: "text", handler: func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) },
			want: []string{"config.listen=127.0.0.1:8080", "config.scim.bulk.max_operations=1000", "config.server.read_timeout=1m0s",
				"config.auth.tokens.0=[REDACTED]", "config.targets.0.name=crm config.targets.0.type=sql"}},
		{name: "json", handler: func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, nil) },
			want: []string{`"listen":"127.0.0.1:8080"`, `"bulk":{"max_operations":1000,`,
				`"tokens":{"0":"[REDACTED]"}`, `"targets":{"0":{"name":"crm","type":"sql"}}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			slog.New(tt.handler(&buf)).Info("config", "config", c)
			for _, want := range tt.want {
				if !strings.Contains(buf.String(), want) {
					t.Errorf("log line %q lacks %q", buf.String(), want)
				}
			}
			if strings.Contains(buf.String(), "s3cr3t") {
				t.Errorf("secret in log line %q", buf.String())
			}
		})
	}
}

// TestShippedExample keeps examples/scimgate.yaml loadable and valid.
func TestShippedExample(t *testing.T) {
	c, err := config.Load(filepath.Join("..", "..", "examples", "scimgate.yaml"), nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if err := c.Validate(registry.New(registry.Services{})); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

// TestReviewsGolden: a configuration with broken access reviews loads,
// and Validate reports every problem of its reviews by field path
// (reviews[i].<field>), their own and what they need of the other
// sections, as testdata/reviews_bad.golden holds (-update rewrites it).
func TestReviewsGolden(t *testing.T) {
	c, err := config.Load(filepath.Join("testdata", "reviews_bad.yaml"), nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(c.Reviews) != 3 {
		t.Fatalf("loaded %d reviews, want 3", len(c.Reviews))
	}
	err = c.Validate(registry.New(registry.Services{}))
	if !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("Validate: %v, want config.ErrInvalid", err)
	}
	got := err.Error() + "\n"
	golden := filepath.Join("testdata", "reviews_bad.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("Validate reported (rerun with -update to accept):\n%s\nwant:\n%s", got, want)
	}
}

// TestReviewsValid: complete access reviews validate, with what they
// name (the targets, the guests section, the sign-ins of Entra, email,
// the channel) present, and load as written.
func TestReviewsValid(t *testing.T) {
	file := filepath.Join(t.TempDir(), "scimgate.yaml")
	if err := os.WriteFile(file, []byte(`entra:
  tenant_id: contoso.onmicrosoft.com
  client_id: 00000000-0000-0000-0000-000000000000
  credential: client_secret
  client_secret_env: ENTRA_SECRET
  features: {sign_in_activity: true}
notifications:
  smtp: {host: smtp.contoso.example, from: scimgate@contoso.example}
  webhooks: [{name: ops, url: "https://hooks.example.com/x"}]
guests:
  rules: [{upnExternal: true}]
  expiry: {afterApproval: 2160h}
targets:
  - name: crm
    type: memory
    users: {scope: {all: true}, mapping: [{target: userName, source: userName}]}
    groups: {scope: {all: true}, mapping: [{target: displayName, source: displayName}]}
reviews:
  - name: crm-guests
    descriptionForAdmins: Quarterly review of the guests in the CRM.
    scope: guestsOnly
    resource: {target: crm}
    inactiveDays: 90
    reviewers: {type: manager}
    fallbackReviewers: [audit@contoso.example]
    recurrence: {pattern: quarterly, durationDays: 14, startDate: 2026-01-05, occurrences: 4}
    settings: {justificationRequired: true, defaultDecision: recommendation, autoApply: true, deniedGuests: blockThenDelete, reminders: false, channels: [ops]}
  - name: sales-members
    resource: {group: Sales}
    reviewers: {type: named, named: [mia@contoso.example]}
    recurrence: {durationDays: 7, startDate: "2026-02-01T09:00:00Z"}
    secondStage:
      reviewers: {type: manager}
      fallbackReviewers: [audit@contoso.example]
      durationDays: 5
      decisionsToNextStage: [approve, dontKnow]
  - name: sales-owners
    resource: {group: Sales}
    reviewers: {type: groupOwners}
    fallbackReviewers: [audit@contoso.example]
    recurrence: {pattern: monthly, durationDays: 7, startDate: "2026-02-01"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(registry.New(registry.Services{})); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	r := c.Reviews[0]
	if len(c.Reviews) != 3 || c.Reviews[2].Reviewers.Type != "groupOwners" || r.InactiveDays != 90 || r.Recurrence.Occurrences != 4 || r.Settings.Reminders == nil || *r.Settings.Reminders ||
		r.Settings.DeniedGuests != "blockThenDelete" || c.Reviews[1].Reviewers.Named[0] != "mia@contoso.example" ||
		r.SecondStage != nil || c.Reviews[1].SecondStage == nil ||
		fmt.Sprint(*c.Reviews[1].SecondStage) != "{{manager []} [audit@contoso.example] 5 [approve dontKnow]}" {
		t.Errorf("loaded %+v", c.Reviews)
	}
}

// TestStoreSection: the store section's problems, each named.
func TestStoreSection(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store config.Store
		want  []string
	}{
		{"sqlite default", config.Store{}, nil},
		{"postgres with a dsn file", config.Store{Type: "postgres", DSNFile: "/run/secrets/dsn"}, nil},
		{"mysql with an env", config.Store{Type: "mysql", DSNEnv: "DB_DSN"}, nil},
		{"sqlite with a dsn", config.Store{Type: "sqlite", DSN: "x"}, []string{"store.dsn: is for type postgres or mysql: the sqlite store is scimgate.db in data_dir"}},
		{"postgres without a dsn", config.Store{Type: "postgres"}, []string{"store.dsn: a postgres store needs its database: set dsn, dsn_env or dsn_file"}},
		{"two dsns", config.Store{Type: "mysql", DSN: "x", DSNEnv: "Y"}, []string{"store.dsn: give only one of dsn, dsn_env and dsn_file"}},
		{"unknown type", config.Store{Type: "oracle"}, []string{`store.type: unknown type "oracle" (want sqlite, postgres or mysql)`}},
		{"lease too short", config.Store{Type: "postgres", DSN: "x", LeaseTTL: time.Millisecond}, []string{"store.lease_ttl: 1ms: want 1s to 10m"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Defaults()
			ttl := c.Store.LeaseTTL
			c.Store = tc.store
			if c.Store.LeaseTTL == 0 {
				c.Store.LeaseTTL = ttl
			}
			var got []string
			if err := c.Validate(registry.New(registry.Services{})); err != nil {
				for _, e := range strings.Split(err.Error(), "\n") {
					if strings.HasPrefix(e, "store.") {
						got = append(got, e)
					}
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
	c := config.Defaults()
	c.Store = config.Store{Type: "postgres", DSN: "postgres://scimgate:hunter2@db/scimgate"}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "config", c)
	if out := fmt.Sprintf("%v %+v %#v %s", c, c, c, logged.String()); strings.Contains(out, "hunter2") {
		t.Errorf("the DSN's password is printed or logged: %s", out)
	}
}
