package connector

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// TestRunReport: the report has one line per check and the closing counts;
// a broken connector's failing check is a FAIL line with its reason.
func TestRunReport(t *testing.T) {
	tests := []struct {
		name       string
		conn       func() targets.Connector
		wantLines  []string
		wantFailed bool
	}{
		{"memory", func() targets.Connector { return memory.New(memory.Config{}) },
			[]string{"PASS CreateGet", "PASS HostileValues", "SKIP Unsupported: SKIPPED: the connector declares every capability", "21 passed, 0 failed, 1 skipped"}, false},
		{"duplicate create", func() targets.Connector { return &dupCreate{memory.New(memory.Config{})} },
			[]string{"FAIL Groups: Create of a group repeated", "PASS Update\n"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			passed, failed, err := RunReport(context.Background(), tt.conn, &out)
			if err != nil {
				t.Fatalf("RunReport: %v", err)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if len(lines) != len(connChecks)+1 {
				t.Errorf("%d lines, want one per check (%d) and the counts:\n%s", len(lines), len(connChecks), out.String())
			}
			for _, l := range lines[:len(lines)-1] {
				if !regexp.MustCompile(`^(PASS \w+|(FAIL|SKIP) \w+: .+)$`).MatchString(l) {
					t.Errorf("malformed line %q", l)
				}
			}
			for _, w := range tt.wantLines {
				if !strings.Contains(out.String(), w) {
					t.Errorf("report lacks %q:\n%s", w, out.String())
				}
			}
			if (failed > 0) != tt.wantFailed || passed == 0 {
				t.Errorf("passed %d, failed %d; want failures: %v", passed, failed, tt.wantFailed)
			}
		})
	}
}
