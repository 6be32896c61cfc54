package script

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
)

// DefaultUserName is the user keepalived runs scripts as when neither the
// script nor global_defs names one, if that user exists.
const DefaultUserName = "keepalived_script"

// ErrNoDefaultUser is returned by DefaultIdentity under
// enable_script_security when no script_user is set and DefaultUserName
// does not exist: keepalived then refuses to fall back to root.
var ErrNoDefaultUser = errors.New("script: no script_user and no user " + DefaultUserName)

// UserSpec is a parsed "USER [[:]GROUP]" (script_user, user, or the words
// after a notify command).
type UserSpec struct {
	// User is the user name.
	User string
	// Group is the group name; empty means the user's primary group.
	Group string
	// Supplementary is set by a ':' before the group (or a lone ':'): the
	// process gets the user's supplementary groups, as keepalived ≥ 2.3.
	// Otherwise it has none, as keepalived by default.
	Supplementary bool
}

// ParseUserSpec parses "USER [[:]GROUP]".
func ParseUserSpec(s string) (UserSpec, error) {
	f := strings.Fields(s)
	switch len(f) {
	case 1, 2:
	case 0:
		return UserSpec{}, errors.New("script: empty user")
	default:
		return UserSpec{}, fmt.Errorf("script: user %q: want USER [[:]GROUP]", s)
	}
	u := UserSpec{User: f[0]}
	if len(f) == 2 {
		u.Group = f[1]
		if rest, ok := strings.CutPrefix(u.Group, ":"); ok {
			u.Supplementary, u.Group = true, rest
		}
	}
	return u, nil
}

// Identity is who a script runs as.
type Identity struct {
	// Name is the user name, for messages ("" when unknown).
	Name string
	// UID and GID are the user and group ids.
	UID, GID uint32
	// Groups are the supplementary groups (none by default).
	Groups []uint32
}

// String is "NAME (uid U, gid G)".
func (id Identity) String() string {
	name := id.Name
	if name == "" {
		name = "uid " + strconv.FormatUint(uint64(id.UID), 10)
	}
	return fmt.Sprintf("%s (uid %d, gid %d)", name, id.UID, id.GID)
}

// Root reports whether the identity has root's user or group id, which is
// what makes keepalived check a script's path.
func (id Identity) Root() bool { return id.UID == 0 || id.GID == 0 }

// Accounts looks users and groups up: the host's databases in the daemon
// (HostAccounts), tables in tests.
type Accounts interface {
	// LookupUser returns the user's id and primary group id.
	LookupUser(name string) (uid, gid uint32, err error)
	// LookupGroup returns the group's id.
	LookupGroup(name string) (uint32, error)
	// GroupIDs returns the groups the user belongs to.
	GroupIDs(name string) ([]uint32, error)
}

// Resolve turns a UserSpec into an Identity.
func Resolve(spec UserSpec, acc Accounts) (Identity, error) {
	uid, gid, err := acc.LookupUser(spec.User)
	if err != nil {
		return Identity{}, fmt.Errorf("script: user %q: %w", spec.User, err)
	}
	id := Identity{Name: spec.User, UID: uid, GID: gid}
	if spec.Group != "" {
		if id.GID, err = acc.LookupGroup(spec.Group); err != nil {
			return Identity{}, fmt.Errorf("script: group %q: %w", spec.Group, err)
		}
	}
	if spec.Supplementary {
		if id.Groups, err = acc.GroupIDs(spec.User); err != nil {
			return Identity{}, fmt.Errorf("script: supplementary groups of %q: %w", spec.User, err)
		}
	}
	return id, nil
}

// DefaultIdentity is keepalived's default script user when neither the
// script nor script_user names one: DefaultUserName if it exists, else self
// (the daemon's own user) — except under enable_script_security (security),
// where keepalived refuses to default to its own user: ErrNoDefaultUser.
func DefaultIdentity(acc Accounts, self Identity, security bool) (Identity, error) {
	id, err := Resolve(UserSpec{User: DefaultUserName}, acc)
	if err == nil {
		return id, nil
	}
	if security {
		return Identity{}, ErrNoDefaultUser
	}
	return self, nil
}

// HostAccounts looks users and groups up in this host's databases (os/user).
type HostAccounts struct{}

// LookupUser implements Accounts.
func (HostAccounts) LookupUser(name string) (uint32, uint32, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("gid %q: %w", u.Gid, err)
	}
	return uint32(uid), uint32(gid), nil
}

// LookupGroup implements Accounts.
func (HostAccounts) LookupGroup(name string) (uint32, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, err
	}
	gid, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("gid %q: %w", g.Gid, err)
	}
	return uint32(gid), nil
}

// GroupIDs implements Accounts.
func (HostAccounts) GroupIDs(name string) ([]uint32, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, err
	}
	out := make([]uint32, 0, len(ids))
	for _, s := range ids {
		v, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("gid %q: %w", s, err)
		}
		out = append(out, uint32(v))
	}
	return out, nil
}

// Self is the daemon's own identity (its real uid and gid).
func Self() Identity {
	id := Identity{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
	if u, err := user.LookupId(strconv.Itoa(os.Getuid())); err == nil {
		id.Name = u.Username
	}
	return id
}
