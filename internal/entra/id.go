package entra

// IsObjectID reports whether s is an Entra object id (a GUID), as the
// member actions require; anything else names a user by
// userPrincipalName.
func IsObjectID(s string) bool { return objectIDPattern.MatchString(s) }
