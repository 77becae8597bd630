package sqlstore

import (
	"context"
	"fmt"
	"strings"
)

const (
	provMembersSQL   = "SELECT member FROM provisioned_members WHERE target = ? AND gid = ? ORDER BY member"
	provGroupsOfSQL  = "SELECT gid FROM provisioned_members WHERE target = ? AND member = ? ORDER BY gid"
	delProvMembers   = "DELETE FROM provisioned_members WHERE target = ? AND gid = ?"
	provMembersInSQL = "SELECT member FROM provisioned_members WHERE target = ? AND gid = ? AND member"
)

// AddProvisionedMembers implements Tx.
func (t *sqlTx) AddProvisionedMembers(ctx context.Context, target, gid string, members []string) error {
	ctx, err := t.begin(ctx)
	if err != nil {
		return err
	}
	for rest := members; len(rest) > 0; {
		chunk := rest[:min(len(rest), memberChunk)]
		rest = rest[len(chunk):]
		have, err := strings1(ctx, t.w, provMembersInSQL+inList(len(chunk)), append([]any{target, gid}, anys(chunk)...)...)
		if err != nil {
			return fmt.Errorf("store: add provisioned members: %w", err)
		}
		in := make(map[string]bool, len(have)+len(chunk))
		for _, m := range have {
			in[m] = true
		}
		var args []any
		n := 0
		for _, m := range chunk {
			if in[m] {
				continue
			}
			in[m] = true
			args = append(args, target, gid, m)
			n++
		}
		if n == 0 {
			continue
		}
		q := "INSERT INTO provisioned_members (target, gid, member) VALUES (?, ?, ?)" + strings.Repeat(", (?, ?, ?)", n-1)
		if _, err := t.w.exec(ctx, q, args...); err != nil {
			return fmt.Errorf("store: add provisioned members: %w", err)
		}
	}
	return nil
}

// RemoveProvisionedMembers implements Tx.
func (t *sqlTx) RemoveProvisionedMembers(ctx context.Context, target, gid string, members []string) error {
	ctx, err := t.begin(ctx)
	if err != nil {
		return err
	}
	if members == nil {
		if _, err := t.w.exec(ctx, delProvMembers, target, gid); err != nil {
			return fmt.Errorf("store: remove provisioned members: %w", err)
		}
		return nil
	}
	for rest := members; len(rest) > 0; {
		chunk := rest[:min(len(rest), memberChunk)]
		rest = rest[len(chunk):]
		if _, err := t.w.exec(ctx, delProvMembers+" AND member"+inList(len(chunk)),
			append([]any{target, gid}, anys(chunk)...)...); err != nil {
			return fmt.Errorf("store: remove provisioned members: %w", err)
		}
	}
	return nil
}

// ProvisionedMembers implements Tx.
func (t *sqlTx) ProvisionedMembers(ctx context.Context, target, gid string) ([]string, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	return strings1(ctx, t.w, provMembersSQL, target, gid)
}

// ProvisionedGroupsOf implements Tx.
func (t *sqlTx) ProvisionedGroupsOf(ctx context.Context, target, member string) ([]string, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	return strings1(ctx, t.w, provGroupsOfSQL, target, member)
}

// ProvisionedMembers implements Store.
func (s *SQL) ProvisionedMembers(ctx context.Context, target, gid string) (out []string, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		out, err = strings1(ctx, c, provMembersSQL, target, gid)
		return err
	})
	return out, err
}

// ProvisionedMembersIn implements Store.
func (s *SQL) ProvisionedMembersIn(ctx context.Context, target, gid string, members []string) (out []string, err error) {
	out = []string{}
	if len(members) == 0 {
		return out, nil
	}
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		for rest := members; len(rest) > 0; {
			chunk := rest[:min(len(rest), memberChunk)]
			rest = rest[len(chunk):]
			got, err := strings1(ctx, c, provMembersInSQL+inList(len(chunk)), append([]any{target, gid}, anys(chunk)...)...)
			if err != nil {
				return err
			}
			out = append(out, got...)
		}
		return nil
	})
	return out, err
}

// ProvisionedGroupsOf implements Store.
func (s *SQL) ProvisionedGroupsOf(ctx context.Context, target, member string) (out []string, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		out, err = strings1(ctx, c, provGroupsOfSQL, target, member)
		return err
	})
	return out, err
}

// strings1 runs a query selecting one string column.
func strings1(ctx context.Context, c *conn, q string, args ...any) ([]string, error) {
	rows, err := c.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return out, nil
}
