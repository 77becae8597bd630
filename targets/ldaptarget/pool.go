package ldaptarget

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	ldap "github.com/go-ldap/ldap/v3"

	"github.com/scimgate/scimgate/targets"
)

// idleCheck is how long a pooled connection may stay unused before it is
// checked (a root DSE read) before its next use.
const idleCheck = 30 * time.Second

// errClosed is returned by every call after Close.
var errClosed = targets.Permanent(errors.New("ldaptarget: connector closed"))

// pool holds up to size long-lived bound connections. A connection that
// fails at the network level, or whose call's context ends while it runs,
// is closed and replaced by a new one on a later call.
type pool struct {
	url         *url.URL
	tls         *tls.Config
	startTLS    bool
	bindDN      string
	password    string
	dialTimeout time.Duration
	timeout     time.Duration

	slots chan struct{} // one token per connection in use
	idle  chan *pooled  // bound connections not in use
	mu    sync.Mutex    // guards closed
	done  chan struct{} // closed by close
	once  sync.Once
}

type pooled struct {
	conn *ldap.Conn
	used time.Time
}

func newPool(u *url.URL, tc *tls.Config, startTLS bool, bindDN, password string, size int, dialTimeout, timeout time.Duration) *pool {
	return &pool{
		url: u, tls: tc, startTLS: startTLS, bindDN: bindDN, password: password,
		dialTimeout: dialTimeout, timeout: timeout,
		slots: make(chan struct{}, size),
		idle:  make(chan *pooled, size),
		done:  make(chan struct{}),
	}
}

// do runs fn with a bound connection. The context reaches the network: when
// it ends while fn runs, the connection is closed, fn returns, and do
// reports the context's error as transient.
func (p *pool) do(ctx context.Context, fn func(*ldap.Conn) error) error {
	if err := ctx.Err(); err != nil {
		return targets.Transient(err)
	}
	pc, err := p.get(ctx)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { pc.conn.Close() })
	err = fn(pc.conn)
	interrupted := !stop()
	if err != nil && ctx.Err() != nil {
		err = targets.Transient(fmt.Errorf("ldaptarget: %w", ctx.Err()))
	}
	p.put(pc, interrupted || isNetwork(err))
	return err
}

// get takes an idle connection, checked when it has been idle long, or
// dials a new one.
func (p *pool) get(ctx context.Context) (*pooled, error) {
	select {
	case <-p.done:
		return nil, errClosed
	default:
	}
	select {
	case p.slots <- struct{}{}:
	case <-p.done:
		return nil, errClosed
	case <-ctx.Done():
		return nil, targets.Transient(ctx.Err())
	}
	for {
		select {
		case pc := <-p.idle:
			if pc.conn.IsClosing() {
				continue
			}
			if time.Since(pc.used) > idleCheck && ping(pc.conn) != nil {
				pc.conn.Close()
				continue
			}
			return pc, nil
		default:
		}
		conn, err := p.dial(ctx)
		if err != nil {
			<-p.slots
			return nil, err
		}
		return &pooled{conn: conn}, nil
	}
}

// put returns a connection to the pool, or closes it when broken or when
// the pool is closed.
func (p *pool) put(pc *pooled, broken bool) {
	defer func() { <-p.slots }()
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		broken = true
	default:
	}
	if broken || pc.conn.IsClosing() {
		pc.conn.Close()
		return
	}
	pc.used = time.Now()
	p.idle <- pc // never blocks: at most size connections exist
}

// close closes the idle connections and makes later calls fail; the
// connections in use are closed when they are returned.
func (p *pool) close() {
	p.once.Do(func() {
		p.mu.Lock()
		close(p.done)
		p.mu.Unlock()
		for {
			select {
			case pc := <-p.idle:
				pc.conn.Close()
			default:
				return
			}
		}
	})
}

// dial connects (TCP, then TLS for ldaps:// or StartTLS) and binds. ctx and
// the dial timeout bound it.
func (p *pool) dial(ctx context.Context) (*ldap.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, p.dialTimeout)
	defer cancel()
	host := p.url.Host
	if p.url.Port() == "" {
		port := "389"
		if p.url.Scheme == "ldaps" {
			port = "636"
		}
		host = net.JoinHostPort(p.url.Hostname(), port)
	}
	d := net.Dialer{KeepAlive: 30 * time.Second}
	raw, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, dialErr(ctx, err)
	}
	isTLS := p.url.Scheme == "ldaps"
	if isTLS {
		tc := tls.Client(raw, p.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, dialErr(ctx, fmt.Errorf("TLS handshake: %w", err))
		}
		raw = tc
	}
	conn := ldap.NewConn(raw, isTLS)
	conn.Start()
	conn.SetTimeout(p.timeout)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if p.startTLS {
		if err := conn.StartTLS(p.tls); err != nil {
			conn.Close()
			return nil, dialErr(ctx, fmt.Errorf("StartTLS: %w", err))
		}
	}
	if err := conn.Bind(p.bindDN, p.password); err != nil {
		conn.Close()
		// The error carries the server's diagnostic, never the password.
		return nil, dialErr(ctx, fmt.Errorf("bind as %s: %w", p.bindDN, err))
	}
	return conn, nil
}

// dialErr classifies a failure to connect: bad credentials and refused
// certificates are permanent, the rest transient.
func dialErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return targets.Transient(fmt.Errorf("ldaptarget: connect: %w (%w)", err, ctx.Err()))
	}
	var certErr *tls.CertificateVerificationError
	// go-ldap's StartTLS reports a refused certificate as text only.
	refused := strings.Contains(err.Error(), "tls: failed to verify certificate")
	if errors.As(err, &certErr) || refused || ldap.IsErrorAnyOf(err, ldap.LDAPResultInvalidCredentials, ldap.LDAPResultInappropriateAuthentication, ldap.LDAPResultConfidentialityRequired, ldap.LDAPResultStrongAuthRequired) {
		return targets.Permanent(fmt.Errorf("ldaptarget: connect: %w", err))
	}
	return targets.Transient(fmt.Errorf("ldaptarget: connect: %w", err))
}

// ping reads the root DSE.
func ping(conn *ldap.Conn) error {
	_, err := conn.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{"1.1"}, nil))
	return err
}

// isNetwork reports whether err means the connection is no longer usable.
func isNetwork(err error) bool {
	return err != nil && ldap.IsErrorAnyOf(err, ldap.ErrorNetwork, ldap.LDAPResultServerDown, ldap.LDAPResultConnectError, ldap.LDAPResultTimeout)
}
