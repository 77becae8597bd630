package targets_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/targets"
)

func TestClass(t *testing.T) {
	cause := errors.New("boom")
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"nil", nil, nil},
		{"transient", targets.Transient(cause), targets.ErrTransient},
		{"permanent", targets.Permanent(cause), targets.ErrPermanent},
		{"not found", targets.NotFound(cause), targets.ErrNotFound},
		{"conflict error", &targets.ConflictError{Anchor: "a"}, targets.ErrConflict},
		{"conflict sentinel", fmt.Errorf("x: %w", targets.ErrConflict), targets.ErrConflict},
		{"wrapped again", fmt.Errorf("ldap add: %w", targets.Permanent(cause)), targets.ErrPermanent},
		{"unclassified", cause, targets.ErrTransient},
		{"context canceled", context.Canceled, targets.ErrTransient},
		{"deadline exceeded", fmt.Errorf("dial: %w", context.DeadlineExceeded), targets.ErrTransient},
		{"cancellation wins over permanent", targets.Permanent(context.Canceled), targets.ErrTransient},
		{"permanent wins over transient", targets.Transient(targets.Permanent(cause)), targets.ErrPermanent},
		{"not found wins over permanent", targets.Permanent(targets.NotFound(cause)), targets.ErrNotFound},
		{"unsupported", targets.Permanent(fmt.Errorf("disable: %w", errors.ErrUnsupported)), targets.ErrPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := targets.Class(tt.err); got != tt.want {
				t.Errorf("Class(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestClassifyKeepsCause(t *testing.T) {
	tests := []struct {
		name  string
		wrap  func(error) error
		class error
	}{
		{"transient", targets.Transient, targets.ErrTransient},
		{"permanent", targets.Permanent, targets.ErrPermanent},
		{"not found", targets.NotFound, targets.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.wrap(io.ErrUnexpectedEOF)
			if !errors.Is(err, tt.class) || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%v: want both the class and the cause", err)
			}
			if !strings.Contains(err.Error(), io.ErrUnexpectedEOF.Error()) {
				t.Errorf("%q does not show the cause", err)
			}
			if again := tt.wrap(err); again != err {
				t.Errorf("wrapping twice gave %q, want %q unchanged", again, err)
			}
			if tt.wrap(nil) != nil {
				t.Errorf("wrapping nil is not nil")
			}
			var pe *pathErr
			if err := tt.wrap(&pathErr{"x"}); !errors.As(err, &pe) || pe.path != "x" {
				t.Errorf("errors.As through %v failed", err)
			}
		})
	}
}

type pathErr struct{ path string }

func (e *pathErr) Error() string { return "bad path " + e.path }

func TestConflictError(t *testing.T) {
	tests := []struct {
		name    string
		err     *targets.ConflictError
		wantMsg string
	}{
		{"bare", &targets.ConflictError{}, "targets: conflict: object exists"},
		{"anchor", &targets.ConflictError{Anchor: "u-1"}, `targets: conflict: object exists (anchor "u-1")`},
		{"anchor, object id and cause", &targets.ConflictError{Anchor: "u-1", ObjectID: "o", Err: io.EOF},
			`targets: conflict: object exists (anchor "u-1", object id "o"): EOF`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error = fmt.Errorf("create: %w", tt.err)
			if got := tt.err.Error(); got != tt.wantMsg {
				t.Errorf("Error() = %q, want %q", got, tt.wantMsg)
			}
			if !errors.Is(err, targets.ErrConflict) {
				t.Errorf("does not match ErrConflict")
			}
			if errors.Is(err, io.EOF) != (tt.err.Err != nil) {
				t.Errorf("errors.Is(cause) = %v", errors.Is(err, io.EOF))
			}
			var ce *targets.ConflictError
			if !errors.As(err, &ce) || ce.Anchor != tt.err.Anchor {
				t.Errorf("errors.As: %v", ce)
			}
		})
	}
}

func TestCheckAttrs(t *testing.T) {
	tests := []struct {
		name    string
		attrs   map[string]any
		wantErr string // "" for valid
	}{
		{"nil map", nil, ""},
		{"every type", map[string]any{"s": "x", "b": true, "i": int64(1), "f": 1.5, "l": []string{"a"}, "clear": nil}, ""},
		{"int is not int64", map[string]any{"age": 3}, `attribute "age": unsupported value type int`},
		{"complex value", map[string]any{"name": map[string]any{"given": "x"}}, `attribute "name": unsupported value type map[string]interface {}`},
		{"[]any", map[string]any{"emails": []any{"a"}}, `attribute "emails": unsupported value type []interface {}`},
		{"empty name", map[string]any{"": "x"}, "empty name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := targets.CheckAttrs(tt.attrs)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("CheckAttrs: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("CheckAttrs: %v, want an error containing %q", err, tt.wantErr)
			case tt.wantErr != "" && !errors.Is(err, targets.ErrPermanent):
				t.Errorf("CheckAttrs: %v is not permanent", err)
			}
		})
	}
}
