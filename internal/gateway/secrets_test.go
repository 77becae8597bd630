package gateway

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/internal/auth"
	"github.com/scimgate/scimgate/internal/config"
)

// TestSharedSecretRefused: a secret that is both a SCIM and an admin
// credential stops the gateway at startup, whatever the sources of the two
// (inline, token files, environment), with an error naming both settings
// and not the secret.
func TestSharedSecretRefused(t *testing.T) {
	const shared = "shared-secret-0123456789abcdef-0123456789"
	file := func(t *testing.T, name, content string) string {
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name  string
		env   []string
		setup func(t *testing.T, c *config.Config)
		want  []string // settings the error names; none: the gateway starts
	}{
		{name: "distinct secrets start", setup: func(t *testing.T, c *config.Config) {
			c.Auth.Tokens = []config.Secret{shared}
			c.Admin.TokenFiles = []string{file(t, "admin", shared+"-admin")}
		}},
		{name: "inline and inline", setup: func(t *testing.T, c *config.Config) {
			c.Auth.Tokens = []config.Secret{testToken + "-other", shared}
			c.Admin.Tokens = []config.Secret{shared}
		}, want: []string{"admin.tokens[0]", "auth.tokens[1]"}},
		{name: "inline SCIM, admin file", setup: func(t *testing.T, c *config.Config) {
			c.Auth.Tokens = []config.Secret{shared}
			c.Admin.TokenFiles = []string{file(t, "admin", shared)}
		}, want: []string{"admin.token_files[0]", "auth.tokens[0]"}},
		{name: "SCIM file, inline admin", setup: func(t *testing.T, c *config.Config) {
			c.Auth.TokenFiles = []string{file(t, "scim", shared)}
			c.Admin.Tokens = []config.Secret{shared}
		}, want: []string{"admin.tokens[0]", "auth.token_files[0]"}},
		{name: "two files, same secret", setup: func(t *testing.T, c *config.Config) {
			c.Auth.TokenFiles = []string{file(t, "scim", shared)}
			c.Admin.TokenFiles = []string{file(t, "admin", shared)}
		}, want: []string{"admin.token_files[0]", "auth.token_files[0]"}},
		{name: "one file for both", setup: func(t *testing.T, c *config.Config) {
			f := file(t, "token", shared)
			c.Auth.TokenFiles = []string{f}
			c.Admin.TokenFiles = []string{f}
		}, want: []string{"admin.token_files[0]", "auth.token_files[0]"}},
		{name: "the generated SCIM token as admin file", setup: func(t *testing.T, c *config.Config) {
			c.Admin.TokenFiles = []string{filepath.Join(c.DataDir, TokenFile)}
			// The SCIM token is generated before the admin file is read.
			if _, err := ensureToken(filepath.Join(c.DataDir, TokenFile)); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"admin.token_files[0]", "auth.token_files[0]"}},
		{name: "SCIM token from the environment, inline admin",
			env: []string{config.EnvSCIMToken + "=" + shared},
			setup: func(t *testing.T, c *config.Config) {
				c.Admin.Tokens = []config.Secret{shared}
			}, want: []string{"admin.tokens[0]", "auth.tokens[0]"}},
		{name: "admin token from the environment, SCIM file",
			env: []string{config.EnvAdminToken + "=" + shared},
			setup: func(t *testing.T, c *config.Config) {
				c.Auth.TokenFiles = []string{file(t, "scim", shared)}
			}, want: []string{"admin.tokens[0]", "auth.token_files[0]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Load("", tc.env)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Listen = "127.0.0.1:0"
			cfg.DataDir = t.TempDir()
			tc.setup(t, &cfg)
			ctx, cancel := context.WithCancel(context.Background())
			g, err := New(ctx, cfg, nil, slog.New(slog.DiscardHandler))
			if len(tc.want) == 0 {
				if err != nil {
					cancel()
					t.Fatalf("New: %v", err)
				}
				serveUntilCleanup(t, ctx, cancel, g)
				return
			}
			cancel()
			if err == nil {
				g.Close()
				t.Fatal("the gateway started with a secret shared by SCIM and the admin API")
			}
			if !errors.Is(err, auth.ErrSharedSecret) {
				t.Errorf("error %v is not ErrSharedSecret", err)
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
			if strings.Contains(err.Error(), shared) {
				t.Errorf("error %q holds the secret", err)
			}
		})
	}
}
