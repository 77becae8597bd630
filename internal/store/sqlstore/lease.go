package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

const (
	leaseTakeSQL = "UPDATE leases SET epoch = CASE WHEN holder = ? THEN epoch ELSE epoch + 1 END, holder = ?, expires = ?" +
		" WHERE name = ? AND (holder = ? OR expires <= ?)"
	leaseAddSQL  = "INSERT INTO leases (name, holder, epoch, expires) VALUES (?, ?, 1, ?) ON CONFLICT (name) DO NOTHING"
	leaseGetSQL  = "SELECT name, holder, epoch, expires FROM leases WHERE name = ?"
	leaseFreeSQL = "UPDATE leases SET expires = ? WHERE name = ? AND holder = ?"
)

// TryLease takes the lease name for holder until now+ttl, or renews it
// if holder has it: it succeeds when the lease is free, has expired, or
// is holder's. It returns the lease as it is after the attempt: held by
// another replica when ok is false. Replicas compare times of their own
// clocks: they must agree to well within ttl.
func (s *SQL) TryLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (l store.Lease, ok bool, err error) {
	if name == "" || holder == "" || ttl <= 0 {
		return store.Lease{}, false, errors.New("store: lease: name, holder and a positive ttl are required")
	}
	err = s.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		t, isSQL := tx.(*sqlTx)
		if !isSQL {
			return fmt.Errorf("store: lease: unexpected Tx %T", tx)
		}
		ctx, err := t.begin(ctx)
		if err != nil {
			return err
		}
		res, err := t.w.exec(ctx, leaseTakeSQL, holder, holder, timeText(now.Add(ttl)), name, holder, timeText(now))
		if err != nil {
			return fmt.Errorf("store: lease: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: lease: %w", err)
		}
		if n == 0 {
			if _, _, err := t.w.insert(ctx, leaseAddSQL, "epoch", name, holder, timeText(now.Add(ttl))); err != nil {
				return fmt.Errorf("store: lease: %w", err)
			}
		}
		l, err = scanLease(t.w.queryRow(ctx, leaseGetSQL, name))
		return err
	})
	return l, err == nil && l.Holder == holder && l.Expires.After(now), err
}

// ReleaseLease gives up holder's lease name, if holder has it, so that
// another replica takes it at once.
func (s *SQL) ReleaseLease(ctx context.Context, name, holder string) error {
	return s.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		t, isSQL := tx.(*sqlTx)
		if !isSQL {
			return fmt.Errorf("store: lease: unexpected Tx %T", tx)
		}
		return t.execTx(ctx, "lease", leaseFreeSQL, timeText(time.Unix(0, 0)), name, holder)
	})
}

// GetLease returns the lease name, or ErrNotFound if no replica ever took
// it.
func (s *SQL) GetLease(ctx context.Context, name string) (l store.Lease, err error) {
	err = s.read(ctx, func(ctx context.Context, c *conn) error {
		l, err = scanLease(c.queryRow(ctx, leaseGetSQL, name))
		return err
	})
	return l, err
}

// Ping checks that the store can reach its database (a query on a
// reader connection): nil, or an error wrapping ErrUnavailable.
func (s *SQL) Ping(ctx context.Context) error {
	err := s.read(ctx, func(ctx context.Context, c *conn) error {
		var one int
		return c.queryRow(ctx, "SELECT 1").Scan(&one)
	})
	if err != nil && !errors.Is(err, store.ErrUnavailable) && !errors.Is(err, store.ErrClosed) {
		err = fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

func scanLease(row scanner) (store.Lease, error) {
	var l store.Lease
	var expires string
	err := row.Scan(&l.Name, &l.Holder, &l.Epoch, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Lease{}, store.ErrNotFound
	}
	if err == nil {
		l.Expires, err = parseTimeText(expires)
	}
	if err != nil {
		return store.Lease{}, fmt.Errorf("store: lease: %w", err)
	}
	return l, nil
}

const (
	keyAddSQL = "INSERT INTO gateway_keys (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING"
	keyGetSQL = "SELECT value FROM gateway_keys WHERE name = ?"
)

// EnsureKey returns the gateway key name (a signing key every replica
// must share), storing value as it when there is none yet: the first
// replica's value wins.
func (s *SQL) EnsureKey(ctx context.Context, name string, value []byte) (key []byte, err error) {
	if name == "" || len(value) == 0 {
		return nil, errors.New("store: key: a name and a value are required")
	}
	err = s.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		t, isSQL := tx.(*sqlTx)
		if !isSQL {
			return fmt.Errorf("store: key: unexpected Tx %T", tx)
		}
		ctx, err := t.begin(ctx)
		if err != nil {
			return err
		}
		if _, err := t.w.exec(ctx, keyAddSQL, name, value); err != nil {
			return fmt.Errorf("store: key: %w", err)
		}
		if err := t.w.queryRow(ctx, keyGetSQL, name).Scan(&key); err != nil {
			return fmt.Errorf("store: key: %w", err)
		}
		return nil
	})
	return key, err
}
