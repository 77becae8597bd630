package policy

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/scim"
)

// explainFile is a testdata/explain/*.yaml file: a policy and identities.
type explainFile struct {
	Policy   Config `yaml:"policy"`
	Subjects []struct {
		Name         string `yaml:"name"`
		scopeSubject `yaml:",inline"`
	} `yaml:"subjects"`
}

// TestExplain compares the explanations of every target for each identity
// of testdata/explain/*.yaml with the .golden file next to it (go test
// -update rewrites them), and checks that each agrees with the decision.
func TestExplain(t *testing.T) {
	users, groups := testUserType(), scim.GroupType()
	for _, file := range testFiles(t, "explain") {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			var f explainFile
			readYAML(t, file, &f)
			p, err := Compile(f.Policy, WithClock(func() time.Time { return testNow }), WithResourceTypes(users, groups), WithRand(seeded(1)))
			if err != nil {
				t.Fatal(err)
			}
			type result struct {
				Subject      string        `json:"subject"`
				Explanations []Explanation `json:"explanations"`
			}
			var got []result
			for _, s := range f.Subjects {
				var xs []Explanation
				var ds []Decision
				if s.Group != nil {
					g := canonical(t, groups, s.Group)
					xs, ds = p.ExplainGroup(g), p.EvaluateGroup(g)
				} else {
					u := canonical(t, users, s.User)
					xs, ds = p.ExplainUser(u, groupRefs(s.Groups)), p.EvaluateUser(u, groupRefs(s.Groups))
				}
				checkAgrees(t, s.Name, xs, ds)
				got = append(got, result{s.Name, xs})
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			if err := enc.Encode(got); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(buf.String(), "hunter2") {
				t.Errorf("an explanation shows the password")
			}
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("explanations differ from %s (go test -update rewrites it):\n%s", golden, buf.Bytes())
			}
		})
	}
}

// checkAgrees checks that explanations agree with the decisions of the
// targets that receive the kind, and that something decided each one.
func checkAgrees(t *testing.T, subject string, xs []Explanation, ds []Decision) {
	t.Helper()
	var received []Explanation
	for _, x := range xs {
		if x.Receives {
			received = append(received, x)
		} else if x.InScope || x.Scope != nil || x.Attributes != nil {
			t.Errorf("%s: target %s receives nothing of the kind, yet explains %+v", subject, x.Target, x)
		}
	}
	if len(received) != len(ds) {
		t.Fatalf("%s: %d explanations of receiving targets, %d decisions", subject, len(received), len(ds))
	}
	for i, d := range ds {
		x := received[i]
		if x.Target != d.Target || x.InScope != d.InScope || (x.Error != "") != (d.Err != nil) {
			t.Errorf("%s: explanation %s in scope %v error %q; decision %s in scope %v error %v",
				subject, x.Target, x.InScope, x.Error, d.Target, d.InScope, d.Err)
		}
		decisive := false
		for _, c := range x.Scope {
			decisive = decisive || c.Decisive
		}
		if !decisive {
			t.Errorf("%s: target %s: no part of the scope decided: %+v", subject, x.Target, x.Scope)
		}
		if !x.InScope && x.Attributes != nil {
			t.Errorf("%s: target %s: attributes out of scope", subject, x.Target)
		}
	}
}
