// Package guest decides who is a guest, when a guest's access expires and
// what the gateway does about it, and does it. The rules (Compile,
// Classify, Expiry, Plan) are pure: they do no I/O and read no clock: the
// caller passes the user, its groups, the facts it knows (last approval,
// last sign-in) and now, and performs the steps it gets back. Lifecycle
// (lifecycle.go) is that caller: it keeps a record per guest in the store,
// current through the engine's planning hook, performs the steps that
// fall due (notices through the notification channels; blocks and deletes
// as engine holds, and in Entra when configured) and records each.
//
// # Who is a guest
//
// A user is a guest when any rule of Config.Rules matches; Classify
// reports the first that does, by its field path ("rules[1].homeDomains").
// Each rule is exactly one of:
//
//   - userType: the user's userType equals it, case-insensitively
//     ("Guest"; Entra sends userType only where the tenant maps it);
//   - upnExternal: true: the userName contains "#EXT#" (Entra's B2B
//     userPrincipalName);
//   - homeDomains: the domain of the user's primary or work email, or of
//     its userName, is none of them (case-insensitive, exact: list
//     subdomains explicitly); a user with no such domain does not match;
//   - group: the user is a direct member of the group with this id or
//     displayName (case-insensitive);
//   - expression: a CEL condition over the user, as a target's scope
//     (policy.CompileUserCondition); an evaluation error does not match.
//
// # When access expires
//
// Expiry returns the earliest of the configured expiries that apply to
// the user, and the field that gave it ("expiry.lifetime"):
//
//   - lifetime: meta.created + lifetime;
//   - afterApproval: Facts.LastApproval + afterApproval;
//   - attribute: the dateTime the attribute holds (a core attribute,
//     "meta.created", or "<extension URN>:<attribute>");
//   - inactivity: Facts.LastSignIn + inactivity.
//
// An expiry whose input is missing (no meta.created, a zero fact, an
// empty or unparsable attribute) does not apply; when none applies, the
// user has no expiry.
//
// # The state machine
//
// A user the gateway tracks as a guest is in one of three states, held
// in State: active (Blocked false), blocked, deleted. Plan(expiry, now,
// state) returns the steps still ahead, ordered by time; those at or
// before now are due, the first later one is when to look again. After
// performing a step the caller records it with State.Apply and stores
// the state, so that a step done is never planned again (and a step
// planned but not recorded, as after a crash, is planned again).
//
//	active  --notice i (expiry-notices[i], once per expiry date)--> active
//	active  --block (at expiry)-----------------------------------> blocked
//	blocked --delete (at expiry+grace)----------------------------> deleted
//	blocked --unblock (now, when the expiry moved past now, or the
//	          user has no expiry any more: a member now)-----------> active
//	deleted: terminal, nothing is planned.
//
// Notices are per expiry date: State records the date its sent notices
// were for, so an expiry moved (an extension, a later attribute, a
// sign-in) before the block plans every notice again for the new date.
// A notice whose time has passed is still due unless a later notice's
// time has passed too (it is superseded: a guest found 2 days before
// expiry gets the 3-day notice, not the 14-day one too); no notice is
// planned at or after expiry. A user with no expiry (not a guest, or a
// guest no expiry applies to) gets nothing, except unblock when blocked.
package guest
