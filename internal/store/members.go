package store

// MembersPath is the attribute whose values are kept as member rows; index
// entries under MembersPath+"." belong to the member rows, not to the
// resource's Data (Tx.Update leaves them alone).
const MembersPath = "members"

// Member is one member of a group.
type Member struct {
	// Value is the member's id: unique within its group, compared exactly.
	Value string
	// Elem is the member's element number in its group (in the order the
	// members were added); set by the store.
	Elem int
	// Data is the element's JSON as the SCIM layer keeps it.
	Data []byte
	// Index holds the member's index entries (paths under MembersPath);
	// their Elem is set by the store.
	Index []IndexEntry
}
