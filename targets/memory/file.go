package memory

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/scimgate/scimgate/targets"
)

// ErrStateFile: the state file (Config.File) cannot be read or written.
var ErrStateFile = errors.New("memory: state file")

// fileState is the content of the state file.
type fileState struct {
	// Seq is the number of the last anchor handed out, so that anchors are
	// never reused after a reopen.
	Seq     uint64       `json:"seq"`
	Objects []fileObject `json:"objects"`
}

// fileObject is one object in the state file.
type fileObject struct {
	Seq      uint64               `json:"seq"`
	Kind     targets.Kind         `json:"kind"`
	Anchor   string               `json:"anchor"`
	ObjectID string               `json:"objectId"`
	Attrs    map[string]fileValue `json:"attrs,omitempty"`
	Disabled bool                 `json:"disabled,omitempty"`
	Members  []string             `json:"members,omitempty"`
}

// fileValue is an attribute value with its Go type, which JSON alone
// would lose (int64 and float64, []string and []any).
type fileValue struct {
	Type  string          `json:"t"` // string, bool, int64, float64 or []string
	Value json.RawMessage `json:"v"`
}

// Load returns a connector with the objects of cfg.File; a missing file is
// an empty target. Every successful change is then saved to the file.
func Load(ctx context.Context, cfg Config) (*Connector, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := New(cfg)
	b, err := os.ReadFile(cfg.File)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStateFile, err)
	}
	var st fileState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrStateFile, cfg.File, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.init()
	c.seq = st.Seq
	for _, fo := range st.Objects {
		o := &object{seq: fo.Seq, kind: fo.Kind, anchor: fo.Anchor, objectID: fo.ObjectID, disabled: fo.Disabled, attrs: map[string]any{}}
		for k, fv := range fo.Attrs {
			v, err := fv.decode()
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %s attribute %q: %w", ErrStateFile, cfg.File, o.anchor, k, err)
			}
			o.attrs[k] = v
		}
		if o.kind != targets.User && o.kind != targets.Group || o.anchor == "" || c.objs[o.anchor] != nil || o.seq == 0 || o.seq > st.Seq {
			return nil, fmt.Errorf("%w: %s: invalid object %q", ErrStateFile, cfg.File, o.anchor)
		}
		if o.kind == targets.Group {
			o.members = make(map[string]bool)
		}
		c.objs[o.anchor] = o
		c.order[o.kind] = append(c.order[o.kind], o)
		c.byID[o.kind][o.objectID] = o
		c.index(o, true)
	}
	for _, fo := range st.Objects {
		for _, m := range fo.Members {
			if c.objs[m] == nil {
				return nil, fmt.Errorf("%w: %s: group %q has an unknown member %q", ErrStateFile, cfg.File, fo.Anchor, m)
			}
			c.objs[fo.Anchor].members[m] = true
			if c.memberOf[m] == nil {
				c.memberOf[m] = make(map[string]bool)
			}
			c.memberOf[m][fo.Anchor] = true
		}
	}
	for k, list := range c.order {
		slices.SortFunc(list, func(a, b *object) int { return cmp.Compare(a.seq, b.seq) })
		c.order[k] = list
	}
	return c, nil
}

// save writes the state to the file, if one is configured, so that a crash
// at any moment leaves either the previous or the new state: a temporary
// file in the same directory (name.tmp*, left behind by a crash, harmless),
// synced, renamed over the file, and the directory synced. Callers hold mu. Its errors are transient: the change
// is made in memory, and a repeat of the call saves it again.
func (c *Connector) save() error {
	if c.cfg.File == "" {
		return nil
	}
	st := fileState{Seq: c.seq, Objects: []fileObject{}}
	for _, k := range []targets.Kind{targets.User, targets.Group} {
		for _, o := range c.order[k] {
			fo := fileObject{Seq: o.seq, Kind: o.kind, Anchor: o.anchor, ObjectID: o.objectID, Disabled: o.disabled}
			if len(o.attrs) > 0 {
				fo.Attrs = make(map[string]fileValue, len(o.attrs))
			}
			for name, v := range o.attrs {
				fv, err := encodeValue(v)
				if err != nil {
					return targets.Permanent(fmt.Errorf("%w: %s attribute %q: %w", ErrStateFile, o.anchor, name, err))
				}
				fo.Attrs[name] = fv
			}
			fo.Members = slices.Sorted(maps.Keys(o.members))
			st.Objects = append(st.Objects, fo)
		}
	}
	b, err := json.MarshalIndent(st, "", "\t")
	if err != nil {
		return targets.Permanent(fmt.Errorf("%w: %w", ErrStateFile, err))
	}
	if err := writeFileAtomic(c.cfg.File, b); err != nil {
		return targets.Transient(fmt.Errorf("%w: %w", ErrStateFile, err))
	}
	return nil
}

// writeFileAtomic replaces the file name with data durably.
func writeFileAtomic(name string, data []byte) (err error) {
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err = os.Rename(f.Name(), name); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// encodeValue returns v with its type.
func encodeValue(v any) (fileValue, error) {
	var t string
	switch v.(type) {
	case string:
		t = "string"
	case bool:
		t = "bool"
	case int64:
		t = "int64"
	case float64:
		t = "float64"
	case []string:
		t = "[]string"
	default:
		return fileValue{}, fmt.Errorf("unsupported value type %T", v)
	}
	b, err := json.Marshal(v)
	return fileValue{Type: t, Value: b}, err
}

// decode returns the value with its Go type.
func (fv fileValue) decode() (any, error) {
	dec := json.NewDecoder(bytes.NewReader(fv.Value))
	var err error
	switch fv.Type {
	case "string":
		var v string
		err = dec.Decode(&v)
		return v, err
	case "bool":
		var v bool
		err = dec.Decode(&v)
		return v, err
	case "int64":
		var v int64
		err = dec.Decode(&v)
		return v, err
	case "float64":
		var v float64
		err = dec.Decode(&v)
		return v, err
	case "[]string":
		var v []string
		err = dec.Decode(&v)
		return v, err
	}
	return nil, fmt.Errorf("unknown value type %q", fv.Type)
}
