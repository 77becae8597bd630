package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"testing"
	"time"
)

// TestReconcileSettings: orphans and the schedule are read with their
// defaults, and neither changes the fingerprint (they change what a
// reconciliation does, not what the planner plans: changing them must not
// make the engine catch the target up).
func TestReconcileSettings(t *testing.T) {
	base := TargetConfig{Name: "app", Users: &ObjectConfig{Scope: ScopeConfig{All: true},
		Mapping: []MappingConfig{{Target: "login", Source: "userName"}}}}
	with := base
	with.Orphans = OrphansDelete
	with.Reconcile = &ReconcileConfig{Schedule: 24 * time.Hour}
	for _, tc := range []struct {
		name     string
		cfg      TargetConfig
		orphans  Orphans
		schedule time.Duration
	}{
		{"defaults", base, OrphansReport, 0},
		{"set", with, OrphansDelete, 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile(Config{Targets: []TargetConfig{tc.cfg}})
			if err != nil {
				t.Fatal(err)
			}
			tg := p.Targets()[0]
			if tg.Orphans() != tc.orphans || tg.ReconcileSchedule() != tc.schedule {
				t.Errorf("orphans %q, schedule %v; want %q, %v", tg.Orphans(), tg.ReconcileSchedule(), tc.orphans, tc.schedule)
			}
			if got := tg.Attributes(false); !slices.Equal(got, []string{"login"}) || tg.Attributes(true) != nil {
				t.Errorf("attributes %v, %v", got, tg.Attributes(true))
			}
		})
	}
	if fingerprint(base) != fingerprint(with) {
		t.Error("orphans and reconcile change the fingerprint")
	}
	// A configuration without them keeps the fingerprint it had before
	// they existed (the JSON of the TargetConfig leaves them out).
	const before = `{"Name":"app","Users":{"Scope":{"All":true,"Groups":null,"Filters":null,"Expression":""},"Mapping":[{"Target":"login","Source":"userName","Constant":null,"Expression":"","Default":null,"Apply":""}],"Matching":null},"Groups":null,"Lifecycle":{"OutOfScope":"","DeleteGracePeriod":0,"DisableSupported":null,"DeletionGuard":{"Off":false,"Threshold":null,"Window":0},"Preview":false},"Adopt":null}`
	sum := sha256.Sum256([]byte(before))
	if got := hex.EncodeToString(sum[:]); got != fingerprint(base) {
		t.Errorf("fingerprint %s, want %s (the JSON of %s)", fingerprint(base), got, before)
	}
}
