package entra

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestCreateTemporaryAccessPass: the pass is created with the lifetime
// and one-time use asked for, replaces the user's earlier one, and its
// code never shows in String or logs; without the feature, the
// permission or a valid lifetime, nothing is sent.
func TestCreateTemporaryAccessPass(t *testing.T) {
	tapFeatures := Features{TemporaryAccessPass: true}
	for _, tc := range []struct {
		name     string
		roles    []string
		features Features
		lifetime int
		wantErr  error
		sent     bool
	}{
		{"created", []string{"User.Read.All", PermTAP}, tapFeatures, 120, nil, true},
		{"narrower permission", []string{"User.Read.All", "UserAuthMethod-TAP.ReadWrite.All"}, tapFeatures, 60, nil, true},
		{"without permission", []string{"User.Read.All"}, tapFeatures, 60, ErrForbidden, true},
		{"feature off", []string{PermTAP}, Features{}, 60, ErrNotEnabled, false},
		{"lifetime too short", []string{PermTAP}, tapFeatures, 5, ErrInvalid, false},
		{"lifetime too long", []string{PermTAP}, tapFeatures, 43201, ErrInvalid, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, tc.roles, tc.features)
			tap, err := f.c.CreateTemporaryAccessPass(t.Context(), f.alice.UserPrincipalName, tc.lifetime, true)
			wantKind(t, err, tc.wantErr)
			if n := f.s.Count("POST", "/v1.0/users/"); (n > 0) != tc.sent {
				t.Fatalf("%d requests sent, want some: %v", n, tc.sent)
			}
			u, _ := f.s.User(f.alice.ID)
			if tc.wantErr != nil {
				if u.TemporaryAccessPass != nil {
					t.Fatalf("a pass was created: %+v", u.TemporaryAccessPass)
				}
				return
			}
			if u.TemporaryAccessPass == nil || tap.Pass != u.TemporaryAccessPass.Pass || tap.Pass == "" ||
				tap.LifetimeInMinutes != tc.lifetime || !tap.IsUsableOnce || !tap.IsUsable || tap.ID == "" || tap.StartDateTime.IsZero() {
				t.Fatalf("pass %+v, tenant has %+v", tap, u.TemporaryAccessPass)
			}
			for _, s := range []string{tap.String(), fmt.Sprint(tap), slogText(tap)} {
				if strings.Contains(s, tap.Pass) || !strings.Contains(s, tap.ID) {
					t.Fatalf("%q shows the code or hides the id", s)
				}
			}
			again, err := f.c.CreateTemporaryAccessPass(t.Context(), f.alice.ID, 60, false)
			if err != nil {
				t.Fatal(err)
			}
			if u, _ = f.s.User(f.alice.ID); u.TemporaryAccessPass.Pass != again.Pass || again.IsUsableOnce {
				t.Fatalf("the second pass did not replace the first: %+v", u.TemporaryAccessPass)
			}
		})
	}
}

func slogText(v any) string {
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})).Info("tap", "tap", v, "at", time.Time{})
	return b.String()
}
