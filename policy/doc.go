// Package policy decides, for every target, which users and groups are in
// scope and with which attributes. It is pure: no I/O, no clock or
// randomness except those injected (WithClock, WithRand). The engine
// calls it on every change and turns the difference between two
// decisions into joiner, mover and leaver operations.
//
// # Configuration
//
// A policy is YAML (ParseConfig, then Compile; Validate reports every
// problem with its field path). Per target:
//
//	targets:
//	  - name: crm
//	    users:
//	      scope:                      # all parts given must hold
//	        groups: [Sales, 0b5f1c2e-...]   # direct member of any (displayName or id)
//	        filters:                  # Entra scoping filters: any filter, all its clauses
//	          - name: Sales staff
//	            clauses:
//	              - attribute: urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department
//	                operator: equals
//	                value: Sales
//	              - {attribute: active, operator: isTrue}
//	          - clauses:
//	              - {attribute: 'emails[type eq "work"].value', operator: endsWith, value: "@contoso.com"}
//	        expression: 'user.title != "Intern"'   # CEL, for anything else
//	        # all: true                 # every user; excludes the above
//	      mapping:
//	        - {target: login, source: userName}
//	        - {target: mail, source: 'emails[type eq "work"].value'}
//	        - {target: company, constant: Contoso}
//	        - {target: alias, expression: 'Join(".", ToLower(user.name.givenName), ToLower(user.name.familyName))'}
//	        - {target: costCenter, source: urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter, default: "0000"}
//	        - {target: password, expression: 'RandomString(16, 2, 2, 2, 2)', apply: onCreate}
//	    groups:                       # absent: the target receives no groups
//	      scope: {filters: [{clauses: [{attribute: displayName, operator: startsWith, value: "app-"}]}]}
//	      mapping:
//	        - {target: cn, source: displayName}
//	    lifecycle:
//	      outOfScope: disable         # disable (default) | delete | none
//	      deleteGracePeriod: 720h     # after a SCIM DELETE: disabled, deleted after this
//	      disableSupported: true
//	      deletionGuard: {threshold: 500, window: 1h}   # or {off: true}
//	      preview: false
//
// Clause operators (Entra's in brackets): equals [EQUALS], notEquals [NOT
// EQUALS], startsWith, endsWith [ENDS_WITH], contains [Includes], in and
// notIn with values: [...] [& and !&, as a list], regexMatch [REGEX
// MATCH] and notRegexMatch (RE2, unanchored), isNull [IS NULL: null or
// empty], isNotNull, isTrue, isFalse, greaterThan, greaterThanOrEquals
// [Greater_Than, Greater_Than_OR_EQUALS], lessThan, lessThanOrEquals.
// Strings compare case-sensitively, as in Entra, unless ignoreCase: true.
// Every operator but isNull is false for a null or empty attribute. A
// clause names a single-valued attribute; ordering works on numbers,
// dateTime attributes (as instants) and strings holding integers
// (employeeNumber greaterThan 1000000). Clauses compile to CEL; the
// generated rule is Target.ScopeRule.
//
// Attribute paths (clause attribute, mapping source) are SCIM paths as the
// server resolves them: case-insensitive names, an optional schema URN,
// "manager" for the enterprise manager, `emails[type eq "work"].value`
// and `emails[primary eq true].value` for one element, and "emails" or
// "emails.value" (sources only) for all of them.
//
// A mapping is a source path, a constant or an expression, with an
// optional default used when the value is null (Entra's "default value if
// null") and apply: always | onCreate (Entra's "only during object
// creation", for initial passwords; RandomString and Guid are only
// allowed there, since they change at every evaluation).
//
// # Identities in CEL
//
// A user is the variable user, a group the variable group: the canonical
// resource (scim/resource.go), read without copying.
//
//	user.userName, user.active, user.title      core attributes, by schema name
//	user.name.givenName                          sub-attributes
//	user.enterprise.department                   the enterprise extension
//	user.enterprise.manager.value
//	user["urn:example:2.0:User"].badge           any extension, by URN
//	user.emails.work                             value of the first email of type "work"
//	user.emails.primary                          value of the primary email
//	user.addresses.work.locality                 (no "value": the element itself)
//	user.emails                                  the list: size(), [0], exists(), map()
//	user.roles                                   for SingleAppRoleAssignment and AppRoleAssignmentsComplex
//	user.groups                                  the user's groups: [{value: id, display: displayName}]
//	group.displayName, group.members
//
// An absent attribute reads as null, an absent complex attribute or
// extension as an empty object and an absent multi-valued attribute as an
// empty list, so user.name.givenName is null rather than an error. Use
// IsNull(x) or IsPresent(x): "== null" holds for absent single values
// only. Attribute names are checked against the schema when compiling
// ("user has no attribute \"username\"; did you mean \"userName\"?").
// An Entra expression carries over by writing [givenName] as
// user.name.givenName, leaving empty arguments as null, and using CEL
// string literals:
//
//	Entra: Join("@", NormalizeDiacritics(StripSpaces(Join(".", [givenName], [surname]))), "contoso.com")
//	CEL:   Join("@", NormalizeDiacritics(StripSpaces(Join(".", user.name.givenName, user.name.familyName))), "contoso.com")
//	Entra: Replace([mail], "@contoso.com", , , "", , )
//	CEL:   Replace(user.emails.work, "@contoso.com", null, null, "", null, null)
//
// CEL's own operators and macros (==, &&, ?:, in, startsWith, matches,
// exists, map, filter, size, timestamp) are available too.
//
// # Functions
//
// The Entra attribute-mapping functions, with Entra's names, argument
// order and semantics. String functions give null for a null source
// unless noted; errors name the function and argument, never the value.
//
//	Append(source, suffix)          source + suffix
//	AppRoleAssignmentsComplex(roles) every role as {value, display, type, primary: false}
//	BitAnd(a, b)                    bitwise AND of integers
//	CBool(x)                        true for true, non-zero numbers, "True" (any case); false for null
//	CDate(s)                        timestamp from xsd:dateTime, "2012-03-16-07:00", "2012-03-16", "3/16/2012 7:00:00 AM"
//	Coalesce(a, b, ...)             first argument that is not null (up to 64)
//	ConvertToBase64(s)              base64 of the UTF-16LE bytes
//	ConvertToUTF8Hex(s)             upper-case hex of the UTF-8 bytes
//	Count(list)                     number of values (0 for null, 1 for a single value)
//	CStr(x)                         string: numbers invariant, booleans "True"/"False", dates xsd:dateTime
//	DateAdd(interval, n, date)      interval yyyy, m, d, ww, h, n, s; months clamp to the month's end
//	DateDiff(interval, d1, d2)      d2 - d1 in intervals: calendar years/months/days (UTC), weeks rounded down
//	DateFromNum(n)                  AD date (100 ns since 1601) to timestamp; 0 and max give null
//	FormatDateTime(s, [styles,] inFormat, outFormat)  .NET custom formats ("yyyyMMddHHmmss.fZ"); styles: AdjustToUniversal...
//	Guid()                          random UUID (onCreate only)
//	IgnoreFlowIfNullOrEmpty(x)      whole-expression wrapper: null or "" leaves the attribute out
//	IIF(cond, ifTrue, ifFalse)      cond read as CBool
//	InStr(s, sub[, start[, "vbTextCompare"]])  1-based position or 0
//	IsNull(x), IsNullOrEmpty(x), IsPresent(x), IsString(x)
//	Item(list, i)                   i-th value, from 1; null past the end
//	Join(sep, a, b, ...)            multi-valued sources give each value; null and "" are skipped
//	Left(s, n)                      first n characters; "" for null; all of s for n < 0
//	Len(s)                          number of characters
//	Mid(s, start, length)           start from 1
//	NormalizeDiacritics(s)          "Zoë" → "Zoe", "ß" → "ss", "ø" → "oe" (Entra's table)
//	Not(x)                          negation of CBool(x): Not(null) is true
//	Now()                           the clock's time (timestamp)
//	NumFromDate(date)               AD date number
//	PCase(s[, separators])          "PABLO GONSALVES" → "Pablo Gonsalves"
//	RandomString(len, digits, specials, capitals, lowers[, avoid])  (onCreate only; value is a Secret)
//	Redact(x)                       x, marked secret (see Secret)
//	RemoveDuplicates(list)
//	Replace(s, old, new)            plain replacement
//	Replace(s, old, regex, group, replacement, replacementAttribute, template)  Entra's 7 arguments, null when unused
//	SingleAppRoleAssignment(roles)  value of the primary role, else the first
//	Split(s, delimiter)             parts trimmed, empty parts dropped
//	StripSpaces(s)                  removes " "
//	Switch(source, default, key1, value1, ...)  string keys, case-sensitive; null matches ""
//	ToLower(s[, culture]), ToUpper(s[, culture])  invariant, or Turkish/Azeri rules for "tr"/"az"
//	Trim(s)                         removes leading and trailing white space (not in Entra)
//	Word(s, n, delimiters)          n-th word from 1; "" when none
//
// Timestamps (CDate, DateAdd, Now, DateFromNum) compare with < and >, and
// a mapped timestamp becomes an xsd:dateTime string in UTC. The gateway
// has no local time zone: "local" is UTC. Not provided: SelectUniqueValue
// (needs lookups in the target) and DefaultDomain (write the domain).
// Regular expressions are RE2: named groups (?<name>...) and ${name}
// work, look-arounds do not.
//
// # Evaluation
//
// Compile once; then, per change:
//
//	decisions := pol.EvaluateUser(user, []policy.GroupRef{{ID: "g1", DisplayName: "Sales"}})
//	for _, d := range decisions {
//		// d.Target, d.InScope, d.Attributes (apply: always), d.OnCreate, d.Err
//	}
//	decisions = pol.EvaluateGroup(group)
//
// Groups are the user's direct memberships (the engine decides which to
// pass). An attribute whose value is null is present with a nil value
// (clear it in the target); IgnoreFlowIfNullOrEmpty leaves it out. A
// decision with Err must not be acted on; an error is never "left the
// scope". Values of mappings using RandomString or Redact are Secrets:
// they print and log as "[Redact]" and only Reveal gives the value.
//
// ExplainUser and ExplainGroup say why (scimgate plan --explain): per
// target, the decision's InScope and error, each part of the scope (the
// group condition, each filter clause by clause, the expression)
// evaluated on its own with the attribute values it read and marked when
// it decided, and each mapping with its source and value. An explanation
// holds no secret: sensitive mappings and anything read from a password
// or secret attribute show as "[Redact]".
package policy
