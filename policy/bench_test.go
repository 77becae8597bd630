package policy

import (
	"fmt"
	"testing"
)

// benchPolicy has three targets with scopes of every kind and the
// mappings an Entra admin typically writes.
const benchPolicy = `
targets:
  - name: crm
    users:
      scope:
        groups: [Sales, Marketing, Support]
        filters:
          - clauses:
              - {attribute: active, operator: isTrue}
              - {attribute: 'emails[type eq "work"].value', operator: endsWith, value: '@contoso.com'}
          - clauses:
              - {attribute: department, operator: in, values: [Sales, Marketing], ignoreCase: true}
        expression: '!user.title.startsWith("Intern")'
      mapping:
        - {target: login, source: userName}
        - {target: email, source: 'emails[type eq "work"].value'}
        - {target: phone, source: 'phoneNumbers[type eq "work"].value'}
        - {target: displayName, expression: 'Join(" ", user.name.givenName, user.name.familyName)'}
        - {target: alias, expression: 'ToLower(NormalizeDiacritics(StripSpaces(Join(".", Left(user.name.givenName, 1), user.name.familyName))))'}
        - {target: department, source: department}
        - {target: manager, source: manager.value}
        - {target: title, expression: IgnoreFlowIfNullOrEmpty(PCase(user.title))}
        - {target: role, expression: SingleAppRoleAssignment(user.roles), default: User}
        - {target: enabled, expression: 'Switch(user.active, "false", "True", "true")'}
        - {target: country, expression: 'Coalesce(user.addresses.work.country, "US")'}
        - {target: password, expression: 'RandomString(16, 2, 2, 2, 2)', apply: onCreate}
  - name: hr-ldap
    users:
      scope:
        filters:
          - clauses:
              - {attribute: employeeNumber, operator: greaterThan, value: 1000}
              - {attribute: userName, operator: regexMatch, value: '@contoso\.com$'}
      mapping:
        - {target: uid, expression: 'ToLower(Replace(user.userName, null, "(?<Suffix>@(.)*)", "Suffix", "", null, null))'}
        - {target: cn, source: displayName}
        - {target: sn, source: name.familyName}
        - {target: givenName, source: name.givenName}
        - {target: mail, source: 'emails[primary eq true].value'}
        - {target: employeeNumber, source: employeeNumber}
        - {target: memberOf, expression: 'user.groups.map(g, g.display)'}
        - {target: hired, expression: 'FormatDateTime(user.enterprise.organization, "yyyy-MM-dd", "yyyyMMddHHmmss.0Z")'}
  - name: saas
    users:
      scope:
        groups: [App-SaaS-Users]
      mapping:
        - {target: userName, source: userName}
        - {target: active, source: active}
        - {target: emails, source: emails}
        - {target: name, source: name}
`

// benchUser is a full Entra user who is a member of 25 groups.
func benchUser() (map[string]any, []GroupRef) {
	user := map[string]any{
		"id": "2819c223-7f76-453a-919d-413861904646", "userName": "zoe.muller@contoso.com", "active": true,
		"displayName": "Zoë Müller", "title": "senior account manager", "externalId": "zmuller",
		"name": map[string]any{"givenName": "Zoë", "familyName": "Müller", "formatted": "Zoë Müller"},
		"emails": []any{
			map[string]any{"value": "zoe.muller@contoso.com", "type": "work", "primary": true},
			map[string]any{"value": "zoe@example.com", "type": "home"},
		},
		"phoneNumbers": []any{map[string]any{"value": "+1 555 0100", "type": "work"}},
		"addresses":    []any{map[string]any{"type": "work", "country": "DE", "locality": "Berlin"}},
		"roles":        []any{map[string]any{"value": "Admin", "primary": true}},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{
			"department": "Sales", "employeeNumber": "70142", "organization": "2019-04-01",
			"manager": map[string]any{"value": "26118915-6090-4610-87e4-49d8ca9f808d"},
		},
	}
	var groups []GroupRef
	for i := range 24 {
		groups = append(groups, GroupRef{ID: fmt.Sprintf("g-%02d", i), DisplayName: fmt.Sprintf("Group %02d", i)})
	}
	groups = append(groups, GroupRef{ID: "g-sales", DisplayName: "Sales"})
	return user, groups
}

// BenchmarkEvaluateUser evaluates all three targets for one user; the
// ns/target metric is the cost per user per target.
func BenchmarkEvaluateUser(b *testing.B) {
	p := mustCompile(b, benchPolicy)
	user, groups := benchUser()
	for _, d := range p.EvaluateUser(user, groups) {
		if d.Err != nil || !d.InScope && d.Target != "saas" {
			b.Fatalf("unexpected decision %+v", d)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p.EvaluateUser(user, groups)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/3, "ns/target")
}

// BenchmarkCompile compiles the policy (done once at load).
func BenchmarkCompile(b *testing.B) {
	cfg, err := ParseConfig([]byte(benchPolicy))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Compile(cfg); err != nil {
			b.Fatal(err)
		}
	}
}
