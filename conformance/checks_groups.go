package conformance

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Group PATCH status codes: Entra's add-members and rename "should yield an
// HTTP 204 No Content"; elsewhere RFC 7644 §3.5.2 allows 200 or 204.
var (
	want204    = []int{http.StatusNoContent}
	want200204 = []int{http.StatusOK, http.StatusNoContent}
)

// checkGroupCreate: Entra's group body, with the extra ADSCIM schema URN →
// 201 with id, meta and an empty (or absent) members list.
func checkGroupCreate(ctx context.Context, t *checkT) {
	body := t.groupBody("create")
	r := t.do(ctx, http.MethodPost, "/Groups", body)
	if id := idOf(r); id != "" {
		t.deleteLater(groupPath(id))
	}
	t.wantStatus(r, http.StatusCreated)
	o := t.object(r)
	id := str(o, "id")
	if id == "" {
		t.Fatalf("POST /Groups: 201 without an id: %s", snippet(r.body))
	}
	if str(o, "displayName") != body["displayName"] {
		t.Errorf("POST /Groups: displayName %q, want %q", str(o, "displayName"), body["displayName"])
	}
	if m, ok := get(o, "members").([]any); get(o, "members") != nil && (!ok || len(m) != 0) {
		t.Errorf("POST /Groups: members %s, want empty", snippetOf(get(o, "members")))
	}
	if got := str(o, "meta", "resourceType"); got != "Group" {
		t.Errorf("POST /Groups: meta.resourceType %q, want \"Group\"", got)
	}
	if loc := str(o, "meta", "location"); loc == "" || r.header.Get("Location") != loc {
		t.Errorf("POST /Groups: Location header %q, meta.location %q; want both, equal", r.header.Get("Location"), loc)
	}
	g := t.getGroup(ctx, id)
	if str(g, "displayName") != body["displayName"] {
		t.Errorf("GET %s: displayName %q, want %q", groupPath(id), str(g, "displayName"), body["displayName"])
	}
}

// checkGroupDuplicate: displayName is unique, case-insensitively (an Entra
// requirement) → 409 uniqueness.
func checkGroupDuplicate(ctx context.Context, t *checkT) {
	t.newGroup(ctx, "dup")
	body := t.groupBody("dup")
	body["displayName"] = strings.ToUpper(body["displayName"].(string))
	body["externalId"] = "other-" + t.name("dup")
	t.postWantError(ctx, "/Groups", body, http.StatusConflict, "uniqueness")
}

// checkGroupAddMembers: several members in one Add op → 204.
func checkGroupAddMembers(ctx context.Context, t *checkT) {
	u1, u2 := t.newUser(ctx, "m1"), t.newUser(ctx, "m2")
	g := t.newGroup(ctx, "g")
	t.patchGroup(ctx, g, want204, op("Add", "members", memberRefs(u1, u2)))
	t.wantMembers(ctx, "after Add of two members", g, u1, u2)
}

// checkGroupAddExisting: adding a member that is already there is not an
// error and does not duplicate it.
func checkGroupAddExisting(ctx context.Context, t *checkT) {
	u := t.newUser(ctx, "m1")
	g := t.newGroup(ctx, "g")
	t.patchGroup(ctx, g, want200204, op("Add", "members", memberRefs(u)))
	t.patchGroup(ctx, g, want200204, op("Add", "members", memberRefs(u)))
	t.wantMembers(ctx, "after adding the same member twice", g, u)
}

// checkGroupFilterExcludedMembers: Entra's group query with
// excludedAttributes=members must not return members.
func checkGroupFilterExcludedMembers(ctx context.Context, t *checkT) {
	g, _ := t.groupWithMembers(ctx, 1)
	f := fmt.Sprintf("displayName eq %q", t.name("g"))
	l := t.query(ctx, "/Groups", f, "excludedAttributes", "members")
	if !slices.Equal(l.ids(), []string{g}) {
		t.Fatalf("filter %s: ids %v, want [%s]", f, l.ids(), g)
	}
	if _, ok := lookup(l.resources[0], "members"); ok {
		t.Errorf("filter %s&excludedAttributes=members: members returned anyway: %s", f, snippetOf(l.resources[0]))
	}
}

// checkGroupGetExcludedMembers: GET /Groups/{id}?excludedAttributes=members.
func checkGroupGetExcludedMembers(ctx context.Context, t *checkT) {
	g, _ := t.groupWithMembers(ctx, 1)
	o := t.getGroup(ctx, g, "excludedAttributes", "members")
	if _, ok := lookup(o, "members"); ok {
		t.Errorf("GET %s?excludedAttributes=members: members returned anyway: %s", groupPath(g), snippetOf(o))
	}
	if str(o, "id") != g || str(o, "displayName") != t.name("g") {
		t.Errorf("GET %s?excludedAttributes=members: want id and displayName, got %s", groupPath(g), snippetOf(o))
	}
}

// checkGroupMembershipFilter: "id eq g and members eq u" finds the group
// for a member and nothing for a non-member.
func checkGroupMembershipFilter(ctx context.Context, t *checkT) {
	g, members := t.groupWithMembers(ctx, 1)
	other := t.newUser(ctx, "nonmember")
	t.wantMatches(ctx, "/Groups", fmt.Sprintf("id eq %q and members eq %q", g, members[0]), g)
	t.wantMatches(ctx, "/Groups", fmt.Sprintf("id eq %q and members eq %q", g, other))
}

// checkGroupRemoveByValue: Entra's default member removal, path "members"
// with a value array.
func checkGroupRemoveByValue(ctx context.Context, t *checkT) {
	g, m := t.groupWithMembers(ctx, 2)
	t.patchGroup(ctx, g, want200204, op("Remove", "members", memberRefs(m[0])))
	t.wantMembers(ctx, `after Remove path "members" value [{"value":u1}]`, g, m[1])
}

// checkGroupRemoveByFilter: aadOptscim062020 member removal, a valuePath
// filter and no value.
func checkGroupRemoveByFilter(ctx context.Context, t *checkT) {
	g, m := t.groupWithMembers(ctx, 2)
	t.patchGroup(ctx, g, want200204, opNoValue("remove", fmt.Sprintf("members[value eq %q]", m[1])))
	t.wantMembers(ctx, `after remove path members[value eq "u2"]`, g, m[0])
}

// checkGroupRemoveAll: remove of "members" without value clears the group.
func checkGroupRemoveAll(ctx context.Context, t *checkT) {
	g, _ := t.groupWithMembers(ctx, 2)
	t.patchGroup(ctx, g, want200204, opNoValue("remove", "members"))
	t.wantMembers(ctx, `after remove path "members" without value`, g)
}

// checkGroupRename: Replace displayName → 204, and the new name sticks.
func checkGroupRename(ctx context.Context, t *checkT) {
	g := t.newGroup(ctx, "g")
	renamed := t.name("g-renamed")
	t.patchGroup(ctx, g, want204, op("Replace", "displayName", renamed))
	if got := str(t.getGroup(ctx, g), "displayName"); got != renamed {
		t.Errorf("after Replace displayName: displayName %q, want %q", got, renamed)
	}
}

// checkGroupDelete: DELETE → 204, then GET → 404.
func checkGroupDelete(ctx context.Context, t *checkT) {
	g := t.newGroup(ctx, "g")
	t.wantStatus(t.do(ctx, http.MethodDelete, groupPath(g), nil), http.StatusNoContent)
	t.wantError(t.do(ctx, http.MethodGet, groupPath(g), nil), http.StatusNotFound, "")
}

// groupWithMembers creates group t.name("g") with n new users as members
// (one Add op) and returns the group id and the member ids.
func (t *checkT) groupWithMembers(ctx context.Context, n int) (string, []string) {
	var members []string
	for i := range n {
		members = append(members, t.newUser(ctx, fmt.Sprintf("m%d", i+1)))
	}
	g := t.newGroup(ctx, "g")
	t.patchGroup(ctx, g, want200204, op("Add", "members", memberRefs(members...)))
	t.wantMembers(ctx, "setup: after Add members", g, members...)
	if t.failed() {
		t.Fatalf("setup failed, see above")
	}
	return g, members
}

// wantMembers records a failure unless group g has exactly the members want.
func (t *checkT) wantMembers(ctx context.Context, what, g string, want ...string) {
	got := subValues(t.getGroup(ctx, g), "members", "value")
	if !sameSet(got, want) {
		t.Errorf("%s: members of %s are %v, want %v", what, g, got, want)
	}
}
