package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Environment variables with a meaning of their own; every other variable
// is EnvPrefix + the upper-cased YAML path joined with "_" (see EnvNames).
const (
	// EnvPrefix starts every variable Load reads.
	EnvPrefix = "SCIMGATE_"
	// EnvConfigFile names the YAML file when Load gets no path.
	EnvConfigFile = "SCIMGATE_CONFIG"
	// EnvSCIMToken adds one static bearer token to auth.tokens (the whole
	// value, commas included).
	EnvSCIMToken = "SCIMGATE_SCIM_TOKEN"
	// EnvAdminToken adds one static bearer token to admin.tokens; `scimgate
	// admin` sends it.
	EnvAdminToken = "SCIMGATE_ADMIN_TOKEN"
	// EnvAdminURL is the gateway that `scimgate admin` calls; serve ignores
	// it.
	EnvAdminURL = "SCIMGATE_ADMIN_URL"
)

var durationType = reflect.TypeFor[time.Duration]()

// EnvNames returns, sorted, every environment variable Load understands.
func EnvNames() []string {
	names := []string{EnvConfigFile, EnvSCIMToken, EnvAdminToken, EnvAdminURL}
	for name := range envFields(&Config{}) {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// envFields maps each variable name to the settable field of c it sets.
// It covers every scalar and scalar-slice setting; slices of structs
// (scim.custom_extensions) and optional sections (entra) are YAML-only.
func envFields(c *Config) map[string]reflect.Value {
	fields := map[string]reflect.Value{}
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		for i := range v.NumField() {
			name := prefix + strings.ToUpper(yamlName(v.Type().Field(i)))
			f := v.Field(i)
			switch {
			case f.Kind() == reflect.Struct:
				walk(f, name+"_")
			case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct,
				f.Kind() == reflect.Pointer && f.Type().Elem().Kind() == reflect.Struct:
				// YAML only (entra: a section present or not).
			default:
				fields[name] = f
			}
		}
	}
	walk(reflect.ValueOf(c).Elem(), EnvPrefix)
	return fields
}

// scimgateEnv returns the non-empty SCIMGATE_* variables of environ; the
// last of duplicates wins, as with os.Getenv.
func scimgateEnv(environ []string) map[string]string {
	env := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, EnvPrefix) {
			if v == "" {
				delete(env, k)
				continue
			}
			env[k] = v
		}
	}
	return env
}

func (c *Config) applyEnv(env map[string]string) error {
	fields := envFields(c)
	names := make([]string, 0, len(env))
	for name := range env {
		names = append(names, name)
	}
	slices.Sort(names)
	var errs []error
	for _, name := range names {
		switch name {
		case EnvConfigFile, EnvSCIMToken, EnvAdminToken, EnvAdminURL:
			continue
		}
		f, ok := fields[name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: unknown variable (see the supported SCIMGATE_* variables)", name))
			continue
		}
		if err := setString(f, env[name]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if tok, ok := env[EnvSCIMToken]; ok {
		c.Auth.Tokens = append(c.Auth.Tokens, Secret(tok))
	}
	if tok, ok := env[EnvAdminToken]; ok {
		c.Admin.Tokens = append(c.Admin.Tokens, Secret(tok))
	}
	return errors.Join(errs...)
}

// setString parses s into f by f's type. Slices are comma-separated with
// surrounding spaces and empty items dropped.
func setString(f reflect.Value, s string) error {
	switch {
	case f.Type() == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q (want Go syntax such as 30s, 2m or 1h30m)", s)
		}
		f.SetInt(int64(d))
	case f.Kind() == reflect.String:
		f.SetString(s)
	case f.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("invalid boolean %q (want true or false)", s)
		}
		f.SetBool(b)
	case f.CanInt():
		n, err := strconv.ParseInt(s, 10, f.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid integer %q", s)
		}
		f.SetInt(n)
	case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
		var items []string
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		sl := reflect.MakeSlice(f.Type(), len(items), len(items))
		for i, item := range items {
			sl.Index(i).SetString(item)
		}
		f.Set(sl)
	default:
		panic("config: no environment syntax for " + f.Type().String())
	}
	return nil
}
