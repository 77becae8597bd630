package policy

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the policy of every target: which users and groups each one
// receives, with which attributes, and what happens when they leave.
type Config struct {
	Targets []TargetConfig `yaml:"targets"`
}

// TargetConfig is the policy of one target. The gateway's target
// configuration ({name, type, config}) can inline it, so that a target is
// configured in one place.
type TargetConfig struct {
	// Name identifies the target (letters, digits, '.', '_', '-').
	Name string `yaml:"name"`
	// Users and Groups configure the object types the target receives; a
	// target without Groups receives no groups (and no memberships).
	Users  *ObjectConfig `yaml:"users"`
	Groups *ObjectConfig `yaml:"groups"`
	// Lifecycle is read by the engine.
	Lifecycle LifecycleConfig `yaml:"lifecycle"`
	// Adopt: an account found by the matching attributes and linked to no
	// other identity is adopted (default true); false makes such a match a
	// conflict that waits for a person.
	Adopt *bool `yaml:"adopt"`
	// Orphans is what a reconciliation does with an account of the target
	// that no identity matches: report (default), disable or delete.
	// Neither it nor Reconcile changes what the planner plans, so the
	// target's fingerprint leaves them out.
	Orphans Orphans `yaml:"orphans" json:",omitempty"`
	// Reconcile schedules the target's reconciliation.
	Reconcile *ReconcileConfig `yaml:"reconcile" json:",omitempty"`
}

// Orphans is what a reconciliation does with an orphan account.
type Orphans string

// The orphans settings.
const (
	OrphansReport  Orphans = "report"
	OrphansDisable Orphans = "disable"
	OrphansDelete  Orphans = "delete"
)

// ReconcileConfig schedules a target's reconciliation: every account of
// the target is read and compared with what the policy says it should
// be, and the differences are queued.
type ReconcileConfig struct {
	// Schedule is the time between two reconciliations (at least a
	// minute); 0 or absent: only on demand (scimgate reconcile).
	Schedule time.Duration `yaml:"schedule"`
}

// ObjectConfig is the scope and attribute mapping of one object type.
type ObjectConfig struct {
	Scope   ScopeConfig     `yaml:"scope"`
	Mapping []MappingConfig `yaml:"mapping"`
	// Matching lists target attributes of the mapping, in order of
	// precedence, that identify an account already in the target (Entra's
	// matching attributes): before creating an object the engine looks for
	// an account whose attribute holds the object's mapped value, and links
	// (adopts) it instead of creating a second one. Empty: no matching.
	Matching []string `yaml:"matching"`
}

// ScopeConfig says which objects are in scope. The parts given must all
// hold (AND); a scope must give at least one part, or All.
type ScopeConfig struct {
	// All puts every object in scope; it excludes the other parts.
	All bool `yaml:"all"`
	// Groups, for users: the user is a direct member of at least one of
	// these groups. For groups: the group is one of them. A group is named
	// by id or by displayName (case-insensitively).
	Groups []string `yaml:"groups"`
	// Filters are Entra scoping filters: an object matches when all the
	// clauses of at least one filter match.
	Filters []FilterConfig `yaml:"filters"`
	// Expression is a CEL expression that must be true.
	Expression string `yaml:"expression"`
}

// FilterConfig is one scoping filter: its clauses are ANDed.
type FilterConfig struct {
	// Name is a title for people (Entra's "scoping filter title").
	Name    string         `yaml:"name"`
	Clauses []ClauseConfig `yaml:"clauses"`
}

// ClauseConfig is one condition on one attribute.
type ClauseConfig struct {
	// Attribute is a SCIM attribute path of a single-valued attribute:
	// "title", "name.givenName",
	// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
	// `emails[type eq "work"].value`.
	Attribute string `yaml:"attribute"`
	// Operator is one of the Operator constants.
	Operator Operator `yaml:"operator"`
	// Value is the operand of the binary operators (not of in/notIn).
	Value any `yaml:"value"`
	// Values is the list of in and notIn.
	Values []any `yaml:"values"`
	// IgnoreCase compares strings case-insensitively (Entra compares
	// case-sensitively).
	IgnoreCase bool `yaml:"ignoreCase"`
}

// Operator is a scoping clause operator.
type Operator string

// The scoping clause operators. Every operator except isNull is false
// for an attribute that is null or empty, as in Entra.
const (
	OpEquals              Operator = "equals"              // Entra EQUALS
	OpNotEquals           Operator = "notEquals"           // Entra NOT EQUALS
	OpStartsWith          Operator = "startsWith"          // (not in Entra)
	OpEndsWith            Operator = "endsWith"            // Entra ENDS_WITH
	OpContains            Operator = "contains"            // Entra Includes
	OpIn                  Operator = "in"                  // equals one of Values (Entra &, as a list)
	OpNotIn               Operator = "notIn"               // equals none of Values (Entra !&)
	OpRegexMatch          Operator = "regexMatch"          // Entra REGEX MATCH (RE2, unanchored)
	OpNotRegexMatch       Operator = "notRegexMatch"       // Entra NOT REGEX MATCH
	OpIsNull              Operator = "isNull"              // Entra IS NULL: null or empty
	OpIsNotNull           Operator = "isNotNull"           // Entra IS NOT NULL
	OpIsTrue              Operator = "isTrue"              // Entra IS TRUE
	OpIsFalse             Operator = "isFalse"             // Entra IS FALSE
	OpGreaterThan         Operator = "greaterThan"         // Entra Greater_Than
	OpGreaterThanOrEquals Operator = "greaterThanOrEquals" // Entra Greater_Than_OR_EQUALS
	OpLessThan            Operator = "lessThan"            // (not in Entra)
	OpLessThanOrEquals    Operator = "lessThanOrEquals"    // (not in Entra)
)

// Operators lists the clause operators in documentation order.
var Operators = []Operator{
	OpEquals, OpNotEquals, OpStartsWith, OpEndsWith, OpContains, OpIn, OpNotIn,
	OpRegexMatch, OpNotRegexMatch, OpIsNull, OpIsNotNull, OpIsTrue, OpIsFalse,
	OpGreaterThan, OpGreaterThanOrEquals, OpLessThan, OpLessThanOrEquals,
}

// MappingConfig sets one target attribute. Exactly one of Source,
// Constant and Expression is given.
type MappingConfig struct {
	// Target is the target's attribute name, as the connector knows it.
	Target string `yaml:"target"`
	// Source is a SCIM attribute path (see ClauseConfig.Attribute); it may
	// also name a complex or multi-valued attribute, copied whole.
	Source string `yaml:"source"`
	// Constant is a fixed value (a scalar or a list of scalars).
	Constant any `yaml:"constant"`
	// Expression is a CEL expression using the Entra functions.
	Expression string `yaml:"expression"`
	// Default is used when Source or Expression gives null (Entra's
	// "default value if null").
	Default any `yaml:"default"`
	// Apply is when the mapping applies: always (default) or onCreate
	// (Entra's "only during object creation": initial passwords).
	Apply Apply `yaml:"apply"`
	// Field, when set, names the mapping in errors instead of its place
	// in the list, relative to the target ("config.groups"): for mappings
	// the gateway derives from a connector's configuration. It is not
	// part of the target's fingerprint.
	Field string `yaml:"-" json:"-"`
}

// Apply says when a mapping applies.
type Apply string

// The Apply values.
const (
	ApplyAlways   Apply = "always"
	ApplyOnCreate Apply = "onCreate"
)

// LifecycleConfig is what the engine does on leave and delete. The
// policy layer only validates it and fills in defaults (see Lifecycle).
type LifecycleConfig struct {
	// OutOfScope is the action for an object that leaves the scope:
	// disable (default), delete or none.
	OutOfScope Action `yaml:"outOfScope"`
	// DeleteGracePeriod is how long after a SCIM DELETE the object stays
	// disabled in the target before it is deleted; 0 deletes at once.
	DeleteGracePeriod time.Duration `yaml:"deleteGracePeriod"`
	// DisableSupported is false for targets that cannot disable an
	// account (default true); OutOfScope must then be delete or none.
	DisableSupported *bool `yaml:"disableSupported"`
	// DeletionGuard holds mass deletes and disables.
	DeletionGuard DeletionGuardConfig `yaml:"deletionGuard"`
	// Preview computes operations without sending them.
	Preview bool `yaml:"preview"`
}

// DeletionGuardConfig is the accidental-deletion guard: more than
// Threshold deletes and disables for the target within Window are held
// until an administrator releases or discards them.
type DeletionGuardConfig struct {
	// Off turns the guard off.
	Off bool `yaml:"off"`
	// Threshold defaults to DefaultDeletionThreshold.
	Threshold *int `yaml:"threshold"`
	// Window defaults to DefaultDeletionWindow.
	Window time.Duration `yaml:"window"`
}

// Action is what happens to an object in a target.
type Action string

// The actions for an object that leaves the scope.
const (
	ActionDisable Action = "disable"
	ActionDelete  Action = "delete"
	ActionNone    Action = "none"
)

// Defaults of the deletion guard. Entra does not document its default
// threshold; these are the gateway's.
const (
	DefaultDeletionThreshold = 500
	DefaultDeletionWindow    = time.Hour
)

// ParseConfig decodes a YAML policy configuration strictly: unknown
// fields are errors. It does not validate; Compile does.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return c, nil
}

// Validate reports every problem of the configuration, as Compile does.
func (c Config) Validate(opts ...Option) error {
	_, err := Compile(c, opts...)
	return err
}

// ErrInvalidConfig is wrapped by every configuration error.
var ErrInvalidConfig = errors.New("invalid policy configuration")

// FieldError is one configuration problem at a field path, e.g.
// "targets[0].users.scope.filters[1].clauses[0].value: expected a number".
type FieldError struct {
	Path string
	Msg  string
}

// Error returns "path: message".
func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// Unwrap returns ErrInvalidConfig.
func (e *FieldError) Unwrap() error { return ErrInvalidConfig }

// problems collects FieldErrors.
type problems []error

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (p problems) err() error { return errors.Join(p...) }
