package targets

// Deriver is implemented by a Config whose connector receives user
// attributes that come from rules in the connector's own configuration
// rather than from the target's mapping (the entra target's group rules).
// The gateway adds each Derived attribute to the users' mapping of the
// target, where the policy evaluates it like any mapped expression.
type Deriver interface {
	Derived() []Derived
}

// Derived is one derived user attribute.
type Derived struct {
	// Field is the config field the rules come from ("groups"), named in
	// errors as config.<Field>.
	Field string
	// Attribute is the target attribute name.
	Attribute string
	// Expression is a CEL expression over the user, as a mapping's.
	Expression string
}

// Decode decodes and validates a target's config, as Build does before
// it opens the connector.
func (r Registry) Decode(tc TargetConfig) (Config, error) { return r.config(tc) }
