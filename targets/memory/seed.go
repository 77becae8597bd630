package memory

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/scimgate/scimgate/targets"
)

// Seed adds accounts that the target holds without any gateway having
// created them (an application's existing users, for the tests of
// matching, adoption and reconciliation), and returns their anchors. An
// Object's ObjectID is recorded as given: "" for an account no gateway
// created. Its Anchor and Members are ignored. A value another object holds
// in a unique attribute is an error, as for Create.
func (c *Connector) Seed(objs ...targets.Object) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.init()
	anchors := make([]string, 0, len(objs))
	for _, so := range objs {
		if err := c.checkKind(so.Kind, Create); err != nil {
			return anchors, err
		}
		if err := targets.CheckAttrs(so.Attrs); err != nil {
			return anchors, err
		}
		attrs := setAttrs(nil, so.Attrs)
		if h := c.holder(so.Kind, attrs, nil); h != nil {
			return anchors, fmt.Errorf("memory: seed: a unique value of %v is held by %s", so.Attrs, h.anchor)
		}
		if so.ObjectID != "" && c.byID[so.Kind][so.ObjectID] != nil {
			return anchors, fmt.Errorf("memory: seed: object id %q is recorded on another object", so.ObjectID)
		}
		c.seq++
		o := &object{seq: c.seq, kind: so.Kind, objectID: so.ObjectID, attrs: attrs, disabled: so.Disabled,
			anchor: strings.ToLower(string(so.Kind)) + "-" + strconv.FormatUint(c.seq, 10)}
		if so.Kind == targets.Group {
			o.members = make(map[string]bool)
		}
		c.objs[o.anchor] = o
		c.order[o.kind] = append(c.order[o.kind], o)
		if o.objectID != "" {
			c.byID[o.kind][o.objectID] = o
		}
		c.index(o, true)
		anchors = append(anchors, o.anchor)
	}
	return anchors, nil
}
