package gateway

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
	"github.com/scimgate/scimgate/targets/registry"
)

// recordingConfig is the memory connector's configuration that records
// the Env of every Open.
type recordingConfig struct {
	memory.Config `yaml:",inline"`
	opened        func(targets.Env)
}

func (c *recordingConfig) Open(ctx context.Context, env targets.Env) (targets.Connector, error) {
	c.opened(env)
	return c.Config.Open(ctx, env)
}

// TestTargetEnv: the gateway builds its targets with the registry it is
// handed, and tells each connector its name, the gateway's logger and the
// target attributes its users and groups mappings write.
func TestTargetEnv(t *testing.T) {
	var (
		mu   sync.Mutex
		envs = map[string]targets.Env{}
	)
	types := registry.New(registry.Services{})
	types["recording"] = func() targets.Config {
		return &recordingConfig{opened: func(env targets.Env) {
			mu.Lock()
			defer mu.Unlock()
			envs[env.Name] = env
		}}
	}
	cfg := testConfig(t.TempDir())
	if err := yaml.Unmarshal([]byte(`
- name: crm
  type: recording
  users:
    scope: {all: true}
    mapping:
      - {target: login, source: userName}
      - {target: mail, source: 'emails[type eq "work"].value'}
  groups:
    scope: {all: true}
    mapping:
      - {target: name, source: displayName}
- name: hr
  type: recording
  users:
    scope: {all: true}
    mapping:
      - {target: uid, source: userName}
`), &cfg.Targets); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	g, err := New(t.Context(), cfg, types, log)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	want := map[string]targets.Env{
		"crm": {Name: "crm", Logger: log, Attributes: map[targets.Kind][]string{targets.User: {"login", "mail"}, targets.Group: {"name"}}},
		"hr":  {Name: "hr", Logger: log, Attributes: map[targets.Kind][]string{targets.User: {"uid"}}},
	}
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(envs, want) {
		t.Errorf("connectors opened with\n%+v\nwant\n%+v", envs, want)
	}
	if _, err := New(t.Context(), cfg, registry.New(registry.Services{}), log); err == nil {
		t.Error("a gateway without the recording type accepted its targets")
	}
}
