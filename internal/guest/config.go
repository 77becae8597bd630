package guest

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/scimgate/scimgate/targets"
)

// Config is guest lifecycle's configuration (guests: in YAML).
type Config struct {
	// Rules say who is a guest: any of them.
	Rules  []RuleConfig `yaml:"rules" json:"rules"`
	Expiry ExpiryConfig `yaml:"expiry" json:"expiry"`
	// Notices are how long before expiry a notice goes out (336h, 72h):
	// positive and distinct.
	Notices []time.Duration `yaml:"notices" json:"notices,omitempty"`
	// Grace is how long after expiry (and the block) a guest is deleted;
	// 0 means DefaultGrace.
	Grace time.Duration `yaml:"grace" json:"grace,omitempty"`
	// BlockInEntra and DeleteInEntra extend the block and the delete to
	// the Entra directory.
	BlockInEntra  bool `yaml:"blockInEntra" json:"blockInEntra,omitempty"`
	DeleteInEntra bool `yaml:"deleteInEntra" json:"deleteInEntra,omitempty"`
	// NoticeTo are who the notices go to by email: manager (the
	// enterprise extension's: the guest's sponsor), guest, or email
	// addresses; default [manager].
	NoticeTo []string `yaml:"noticeTo" json:"noticeTo,omitempty"`
	// NoticeChannels are webhook channels of the notifications section
	// the notices go to as well.
	NoticeChannels []string `yaml:"noticeChannels" json:"noticeChannels,omitempty"`
}

// noticeTo is the configured NoticeTo or the default.
func (c Config) noticeTo() []string {
	if len(c.NoticeTo) > 0 {
		return c.NoticeTo
	}
	return []string{"manager"}
}

// RuleConfig is one guest rule: exactly one of its fields (see the
// package documentation).
type RuleConfig struct {
	UserType    string   `yaml:"userType" json:"userType,omitempty"`
	UPNExternal bool     `yaml:"upnExternal" json:"upnExternal,omitempty"`
	HomeDomains []string `yaml:"homeDomains" json:"homeDomains,omitempty"`
	Group       string   `yaml:"group" json:"group,omitempty"`
	Expression  string   `yaml:"expression" json:"expression,omitempty"`
}

// ExpiryConfig are the expiry rules, the earliest applying wins; at least
// one is required.
type ExpiryConfig struct {
	Lifetime      time.Duration `yaml:"lifetime" json:"lifetime,omitempty"`
	AfterApproval time.Duration `yaml:"afterApproval" json:"afterApproval,omitempty"`
	// Attribute is a SCIM attribute path holding a dateTime: a core
	// attribute, meta.created or "<extension URN>:<attribute>".
	Attribute  string        `yaml:"attribute" json:"attribute,omitempty"`
	Inactivity time.Duration `yaml:"inactivity" json:"inactivity,omitempty"`
	// LastLogin, with Inactivity, reads the last sign-ins from a target
	// too: the attribute of its accounts that holds their last login,
	// read at each reconciliation of the target.
	LastLogin *LastLoginConfig `yaml:"lastLogin" json:"lastLogin,omitempty"`
}

// LastLoginConfig names a target's last-login attribute.
type LastLoginConfig struct {
	Target    string `yaml:"target" json:"target"`
	Attribute string `yaml:"attribute" json:"attribute"`
}

// DefaultGrace is the grace period when Config.Grace is 0, Entra ID
// Governance's 30 days.
const DefaultGrace = 720 * time.Hour

// grace is the configured grace period or the default.
func (c Config) grace() time.Duration {
	if c.Grace > 0 {
		return c.Grace
	}
	return DefaultGrace
}

// ruleKinds are the fields a rule may set, in their order in RuleConfig.
const ruleKinds = "userType, upnExternal, homeDomains, group, expression"

// Validate reports every problem of the configuration that needs no
// schema, each a targets.FieldError at its path ("rules[1].homeDomains[0]"),
// joined. Compile reports these and, against the SCIM schema, the CEL
// expressions' and the expiry attribute's.
func (c Config) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, targets.FieldError(path, format, args...))
	}
	if len(c.Rules) == 0 {
		add("rules", "at least one rule is required (%s)", ruleKinds)
	}
	for i, r := range c.Rules {
		validateRule(r, fmt.Sprintf("rules[%d]", i), add)
	}
	e := c.Expiry
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"lifetime", e.Lifetime}, {"afterApproval", e.AfterApproval}, {"inactivity", e.Inactivity}} {
		if d.v < 0 {
			add("expiry."+d.name, "%v: must be positive", d.v)
		}
	}
	if e.Attribute != "" {
		if err := checkAttribute(e.Attribute); err != nil {
			add("expiry.attribute", "%v", err)
		}
	}
	if ll := e.LastLogin; ll != nil {
		if e.Inactivity == 0 {
			add("expiry.lastLogin", "only with expiry.inactivity (the last login measures it)")
		}
		if ll.Target == "" {
			add("expiry.lastLogin.target", "required: the target whose accounts hold the last login")
		}
		if ll.Attribute == "" {
			add("expiry.lastLogin.attribute", "required: the attribute of the target's accounts that holds the last login")
		}
	}
	if e.Lifetime == 0 && e.AfterApproval == 0 && e.Attribute == "" && e.Inactivity == 0 {
		add("expiry", "configure at least one of lifetime, afterApproval, attribute and inactivity")
	}
	seen := map[time.Duration]int{}
	for i, n := range c.Notices {
		f := fmt.Sprintf("notices[%d]", i)
		if n <= 0 {
			add(f, "%v: must be positive (how long before expiry)", n)
		} else if j, dup := seen[n]; dup {
			add(f, "%v listed twice (also notices[%d])", n, j)
		} else {
			seen[n] = i
		}
	}
	if c.Grace < 0 {
		add("grace", "%v: must be positive (0: the default %v)", c.Grace, DefaultGrace)
	}
	for i, to := range c.NoticeTo {
		if to != "manager" && to != "guest" && (!strings.Contains(to, "@") || strings.ContainsAny(to, " \r\n<>,")) {
			add(fmt.Sprintf("noticeTo[%d]", i), "%q: want manager, guest or an email address", to)
		}
	}
	for i, ch := range c.NoticeChannels {
		if strings.TrimSpace(ch) == "" {
			add(fmt.Sprintf("noticeChannels[%d]", i), "empty")
		}
	}
	return errors.Join(errs...)
}

func validateRule(r RuleConfig, f string, add func(path, format string, args ...any)) {
	n := 0
	if r.UserType != "" {
		n++
		if strings.TrimSpace(r.UserType) != r.UserType {
			add(f+".userType", "%q: leading or trailing space", r.UserType)
		}
	}
	if r.UPNExternal {
		n++
	}
	if r.HomeDomains != nil {
		n++
		if len(r.HomeDomains) == 0 {
			add(f+".homeDomains", "at least one domain is required")
		}
		seen := map[string]int{}
		for j, d := range r.HomeDomains {
			df := fmt.Sprintf("%s.homeDomains[%d]", f, j)
			if err := checkDomain(d); err != nil {
				add(df, "%q: %v", d, err)
			} else if k, dup := seen[strings.ToLower(d)]; dup {
				add(df, "%q listed twice (also homeDomains[%d]; domains are case-insensitive)", d, k)
			} else {
				seen[strings.ToLower(d)] = j
			}
		}
	}
	if r.Group != "" {
		n++
		if strings.TrimSpace(r.Group) == "" || strings.ContainsFunc(r.Group, isControl) {
			add(f+".group", "%q: a group id or displayName, with no control characters, not only spaces", r.Group)
		}
	}
	if r.Expression != "" {
		n++
	}
	if n != 1 {
		add(f, "set exactly one of %s", ruleKinds)
	}
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// checkDomain checks the form of a home domain: DNS labels of letters,
// digits and '-', separated by dots (no IDN: an A-label "xn--..." is fine).
func checkDomain(d string) error {
	if d == "" {
		return errors.New("empty")
	}
	if strings.Contains(d, "@") {
		return errors.New("a domain, not an address (no '@')")
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("not a domain name: dot-separated labels of 1-63 letters, digits or '-'")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("not a domain name: %q in a label", c)
			}
		}
	}
	return nil
}

// checkAttribute checks the form of an expiry attribute path, without the
// schema: "name", "name.sub" or "<URN>:name" (Compile resolves it).
func checkAttribute(a string) error {
	if strings.TrimSpace(a) != a {
		return fmt.Errorf("%q: leading or trailing space", a)
	}
	if strings.ContainsAny(a, "[] \"") {
		return fmt.Errorf("%q: a plain attribute path (no filter, no spaces)", a)
	}
	if i := strings.LastIndexByte(a, ':'); i >= 0 && (!strings.HasPrefix(strings.ToLower(a), "urn:") || i == len(a)-1) {
		return fmt.Errorf("%q: want <attribute>, <attribute>.<sub-attribute> or <extension URN>:<attribute>", a)
	}
	return nil
}
