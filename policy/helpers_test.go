package policy

import (
	"bytes"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/scim"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// testNow is the fixed clock of the table tests.
var testNow = time.Date(2025, 1, 15, 10, 30, 0, 0, time.UTC)

// seeded is a repeatable random source.
func seeded(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return rand.NewChaCha8(s)
}

// readYAML decodes a testdata file strictly.
func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// testFiles lists testdata/dir/*.yaml.
func testFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no test files in testdata/%s", dir)
	}
	return files
}

// canonical turns a SCIM resource written in YAML into its canonical form
// through the gateway's own normaliser, as a stored resource would be.
func canonical(t *testing.T, rt *scim.ResourceType, body map[string]any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	res, err := rt.Normalize(m)
	if err != nil {
		t.Fatalf("normalising %s: %v", raw, err)
	}
	return res
}

// plain normalises a value decoded from YAML for comparison with
// evaluation results: integers as int64, times as xsd:dateTime, secrets
// revealed.
func plain(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case time.Time:
		return formatTimestamp(x)
	case Secret:
		return plain(x.Reveal())
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = plain(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	}
	return v
}

func equal(a, b any) bool { return reflect.DeepEqual(plain(a), plain(b)) }

// groupRef is GroupRef as written in test files.
type groupRef struct {
	ID          string `yaml:"id"`
	DisplayName string `yaml:"displayName"`
}

func groupRefs(gs []groupRef) []GroupRef {
	out := make([]GroupRef, len(gs))
	for i, g := range gs {
		out[i] = GroupRef(g)
	}
	return out
}

// mustCompile compiles a configuration written in YAML.
func mustCompile(t testing.TB, text string, opts ...Option) *Policy {
	t.Helper()
	cfg, err := ParseConfig([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// testExt is a custom User extension with the attribute types the core
// schemas lack.
const testExt = "urn:example:scimgate:2.0:User"

// testUserType is the User resource type with testExt.
func testUserType() *scim.ResourceType {
	return scim.UserType(schema.Schema{
		ID:   testExt,
		Name: optional.NewString("Test"),
		Attributes: []schema.CoreAttribute{
			schema.SimpleCoreAttribute(schema.SimpleNumberParams(schema.NumberParams{Name: "level", Type: schema.AttributeTypeInteger()})),
			schema.SimpleCoreAttribute(schema.SimpleNumberParams(schema.NumberParams{Name: "fte", Type: schema.AttributeTypeDecimal()})),
			schema.SimpleCoreAttribute(schema.SimpleDateTimeParams(schema.DateTimeParams{Name: "hireDate"})),
			schema.SimpleCoreAttribute(schema.SimpleDateTimeParams(schema.DateTimeParams{Name: "endDate"})),
			schema.SimpleCoreAttribute(schema.SimpleBooleanParams(schema.BooleanParams{Name: "contractor"})),
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{Name: "tags", MultiValued: true})),
		},
	})
}
