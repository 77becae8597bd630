package graphtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
)

// upnPattern is a userPrincipalName Entra accepts: an alias of letters,
// digits and ' . - _ ! # ^ ~, an @ and a domain (a guest's alias holds
// #EXT#).
var upnPattern = regexp.MustCompile(`^[A-Za-z0-9'._!#^~-]{1,113}@[A-Za-z0-9.-]{1,255}$`)

// nicknamePattern is a mailNickname: ASCII 0-127 less @ () \ [] " ; : <> , SPACE.
var nicknamePattern = regexp.MustCompile(`^[!#$%&'*+\-./0-9=?A-Z^_` + "`" + `a-z{|}~]{1,64}$`)

// msgUPNTaken is Graph's message for a userPrincipalName that another user has.
const msgUPNTaken = "Another object with the same value for property userPrincipalName already exists."

// createUser answers POST /users: accountEnabled, displayName,
// mailNickname, userPrincipalName and passwordProfile are required, as
// Graph requires them.
func (s *Server) createUser(r greq) gresp {
	var body map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &body); err != nil {
		return badRequest("Invalid request body.")
	}
	for _, k := range []string{"accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile"} {
		if body[k] == nil {
			return badRequest(fmt.Sprintf("Property '%s' is required when creating the object.", k))
		}
	}
	if !has(r.roles, permWriteUsers) {
		return denied()
	}
	var u User
	var nick string
	var pw struct {
		Password string `json:"password"`
	}
	strs := map[string]*string{"displayName": &u.DisplayName, "givenName": &u.GivenName, "surname": &u.Surname, "jobTitle": &u.JobTitle,
		"department": &u.Department, "employeeId": &u.EmployeeID, "mail": &u.Mail, "userPrincipalName": &u.UserPrincipalName, "mailNickname": &nick}
	for k, v := range body {
		var err error
		switch {
		case k == "accountEnabled":
			err = json.Unmarshal(v, &u.AccountEnabled)
		case k == "passwordProfile":
			if err = json.Unmarshal(v, &pw); err == nil && pw.Password == "" {
				return badRequest("Property 'passwordProfile.password' is required when creating the object.")
			}
		case strs[k] != nil:
			err = json.Unmarshal(v, strs[k])
		default:
			return badRequest(fmt.Sprintf("Invalid property '%s'.", k))
		}
		if err != nil {
			return badRequest(fmt.Sprintf("Invalid value for property '%s'.", k))
		}
	}
	if !upnPattern.MatchString(u.UserPrincipalName) {
		return badRequest("Property userPrincipalName is invalid.")
	}
	if !nicknamePattern.MatchString(nick) {
		return badRequest("Property mailNickname is invalid.")
	}
	if u.DisplayName == "" || len(u.DisplayName) > 256 {
		return badRequest("Property displayName is invalid.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.user(u.UserPrincipalName) != nil {
		return badRequest(msgUPNTaken)
	}
	u.ID, u.UserType, u.CreatedDateTime = uuid.NewString(), "Member", time.Now().UTC().Truncate(time.Second)
	s.users = append(s.users, &u)
	m := u.json(userDefault)
	m["@odata.context"] = s.GraphURL + "/$metadata#users/$entity"
	return gresp{status: http.StatusCreated, body: m}
}

// renameCheck checks a new userPrincipalName of u. s.mu is held.
func (s *Server) renameCheck(u *User, upn string) gresp {
	if !upnPattern.MatchString(upn) {
		return badRequest("Property userPrincipalName is invalid.")
	}
	if o := s.user(upn); o != nil && o != u && strings.EqualFold(o.UserPrincipalName, upn) {
		return badRequest(msgUPNTaken)
	}
	return gresp{}
}
