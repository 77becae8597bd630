package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
)

func TestSecretNeverPrints(t *testing.T) {
	s := Secret{"hunter2"}
	attrs := map[string]any{"password": s}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("decision", "attrs", attrs, "pw", s)
	printed := map[string]string{
		"%v":   fmt.Sprintf("%v", s),
		"%+v":  fmt.Sprintf("%+v", attrs),
		"%#v":  fmt.Sprintf("%#v", attrs),
		"%s":   fmt.Sprintf("%s", s),
		"%d":   fmt.Sprintf("%d", s),
		"%x":   fmt.Sprintf("%x", s),
		"slog": logged.String(),
	}
	for verb, out := range printed {
		if strings.Contains(out, "hunter2") || !strings.Contains(out, Redacted) {
			t.Errorf("%s prints %q", verb, out)
		}
	}
	if _, err := json.Marshal(attrs); !errors.Is(err, ErrSecret) {
		t.Errorf("json.Marshal error = %v, want ErrSecret", err)
	}
	if s.Reveal() != "hunter2" {
		t.Errorf("Reveal = %v", s.Reveal())
	}
}

const passwordPolicy = `
targets:
  - name: t
    users:
      scope: {all: true}
      mapping:
        - {target: password, expression: 'RandomString(12, 2, 2, 2, 2, "0Oo1lI")', apply: onCreate}
`

func password(t *testing.T, p *Policy) string {
	t.Helper()
	d := p.EvaluateUser(map[string]any{"userName": "u"}, nil)[0]
	if d.Err != nil {
		t.Fatal(d.Err)
	}
	return d.OnCreate["password"].(Secret).Reveal().(string)
}

func TestRandomStringIsRepeatable(t *testing.T) {
	a := password(t, mustCompile(t, passwordPolicy, WithRand(seeded(3))))
	b := password(t, mustCompile(t, passwordPolicy, WithRand(seeded(3))))
	c := password(t, mustCompile(t, passwordPolicy, WithRand(seeded(4))))
	if a != b {
		t.Errorf("the same seed gave %q and %q", a, b)
	}
	if a == c {
		t.Errorf("different seeds gave the same value")
	}
}

func TestRandomStringMeetsItsMinimums(t *testing.T) {
	p := mustCompile(t, passwordPolicy, WithRand(seeded(9)))
	for range 500 {
		pw := password(t, p)
		var digits, specials, upper, lower int
		for _, r := range pw {
			switch {
			case strings.ContainsRune("0Oo1lI", r):
				t.Fatalf("%q has a character to avoid", pw)
			case unicode.IsDigit(r):
				digits++
			case unicode.IsUpper(r):
				upper++
			case unicode.IsLower(r):
				lower++
			case strings.ContainsRune(randSpecial, r):
				specials++
			default:
				t.Fatalf("%q has an unexpected character %q", pw, r)
			}
		}
		if len(pw) != 12 || digits < 2 || specials < 2 || upper < 2 || lower < 2 {
			t.Fatalf("%q does not meet length 12 and the minimums 2/2/2/2", pw)
		}
	}
}

// TestRandomStringArguments checks the argument errors, which a policy
// withholds because the mapping is sensitive.
func TestRandomStringArguments(t *testing.T) {
	lib := &library{rand: &randSource{r: seeded(1)}}
	for _, tc := range []struct {
		name string
		expr string
		want string
	}{
		{"minimums above the length", "RandomString(4, 3, 3, 0, 0)", "RandomString: length is less than the sum of the minimums"},
		{"too long", "RandomString(257, 0, 0, 0, 0)", "RandomString: length must be between 1 and 256"},
		{"negative minimum", "RandomString(8, -1, 0, 0, 0)", "RandomString: minimumNumbers must be a number at least 0"},
		{"every special avoided", `RandomString(8, 0, 1, 0, 0, "~!@#$%^&*_-+=` + "`" + `|\\(){}[]:;\"'<>,.?/")`, "RandomString: charactersToAvoid leaves no character for minimumSpecialCharacters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := newKind("user", testUserType(), lib)
			if err != nil {
				t.Fatal(err)
			}
			var p problems
			c, ok := k.compile(tc.expr, "x", exprOnCreate, &p)
			if !ok {
				t.Fatal(p.err())
			}
			_, _, err = c.prog.Eval(&activation{name: "user", val: &object{n: k.tree}})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error = %v, want %s", err, tc.want)
			}
		})
	}
}

func TestLifecycleDefaults(t *testing.T) {
	for _, tc := range []struct {
		name      string
		lifecycle string
		want      Lifecycle
	}{
		{"defaults", "{}", Lifecycle{OutOfScope: ActionDisable, DisableSupported: true,
			DeletionGuard: DeletionGuard{Enabled: true, Threshold: DefaultDeletionThreshold, Window: DefaultDeletionWindow}}},
		{"everything set", "{outOfScope: delete, deleteGracePeriod: 720h, disableSupported: false, deletionGuard: {threshold: 25, window: 10m}, preview: true}",
			Lifecycle{OutOfScope: ActionDelete, DeleteGracePeriod: 720 * time.Hour, DisableSupported: false,
				DeletionGuard: DeletionGuard{Enabled: true, Threshold: 25, Window: 10 * time.Minute}, Preview: true}},
		{"guard off", "{outOfScope: none, deletionGuard: {off: true}}", Lifecycle{OutOfScope: ActionNone, DisableSupported: true,
			DeletionGuard: DeletionGuard{Threshold: DefaultDeletionThreshold, Window: DefaultDeletionWindow}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustCompile(t, `
targets:
  - name: t
    users: {scope: {all: true}, mapping: [{target: x, constant: 1}]}
    lifecycle: `+tc.lifecycle)
			if got := p.Targets()[0].Lifecycle(); got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

const twoTargets = `
targets:
  - name: users-only
    users:
      scope: {filters: [{clauses: [{attribute: active, operator: isTrue}]}]}
      mapping:
        - {target: login, source: userName}
        - {target: emails, source: emails}
        - {target: company, constant: [Contoso, Fabrikam]}
        - {target: nick, source: nickName, default: none}
  - name: groups-only
    groups:
      scope: {all: true}
      mapping: [{target: cn, source: displayName}]
`

func TestTargets(t *testing.T) {
	p := mustCompile(t, twoTargets)
	users, _ := p.Target("users-only")
	groups, _ := p.Target("groups-only")
	if _, ok := p.Target("nope"); ok {
		t.Error("found a target that does not exist")
	}
	for _, tc := range []struct {
		name string
		got  any
		want any
	}{
		{"names in order", []string{p.Targets()[0].Name(), p.Targets()[1].Name()}, []string{"users-only", "groups-only"}},
		{"users-only receives users", users.ReceivesUsers(), true},
		{"users-only receives no groups", users.ReceivesGroups(), false},
		{"groups-only receives groups", groups.ReceivesGroups(), true},
		{"no group rule for users-only", users.ScopeRule(true), ""},
		{"user decisions only from users-only", len(p.EvaluateUser(map[string]any{"active": true}, nil)), 1},
		{"group decisions only from groups-only", len(p.EvaluateGroup(map[string]any{"displayName": "g"})), 1},
		{"groups-only decides users out of scope", groups.EvaluateUser(map[string]any{"active": true}, nil), Decision{Target: "groups-only"}},
		{"users-only decides groups out of scope", users.EvaluateGroup(map[string]any{}), Decision{Target: "users-only"}},
		{"out of scope has no attributes", users.EvaluateUser(map[string]any{"active": false}, nil), Decision{Target: "users-only"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if fmt.Sprint(tc.got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

// TestResultsDoNotAliasInput checks that changing a decision's values
// leaves the identity and the policy's constants alone.
func TestResultsDoNotAliasInput(t *testing.T) {
	p := mustCompile(t, twoTargets)
	user := map[string]any{"userName": "u", "active": true,
		"emails": []any{map[string]any{"value": "a@example.com", "type": "work"}}}
	d := p.EvaluateUser(user, nil)[0]
	d.Attributes["emails"].([]any)[0].(map[string]any)["value"] = "changed"
	d.Attributes["company"].([]any)[0] = "changed"
	if v := user["emails"].([]any)[0].(map[string]any)["value"]; v != "a@example.com" {
		t.Errorf("the user's email changed to %v", v)
	}
	again := p.EvaluateUser(user, nil)[0]
	if v := again.Attributes["company"].([]any)[0]; v != "Contoso" {
		t.Errorf("the constant changed to %v", v)
	}
	if v := again.Attributes["nick"]; v != "none" {
		t.Errorf("the default gave %v", v)
	}
}

// TestConcurrentEvaluation runs evaluations in parallel (for -race).
func TestConcurrentEvaluation(t *testing.T) {
	p := mustCompile(t, benchPolicy, WithRand(seeded(1)))
	user, groups := benchUser()
	want := p.EvaluateUser(user, groups)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				got := p.EvaluateUser(user, groups)
				for i := range got {
					if got[i].InScope != want[i].InScope || got[i].Err != nil || len(got[i].Attributes) != len(want[i].Attributes) {
						errs <- fmt.Errorf("decision %d differs: %+v", i, got[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
