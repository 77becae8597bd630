// Package ldaptest starts throwaway OpenLDAP servers (Debian's slapd) for
// tests: an mdb database under dc=example,dc=org with the ppolicy and
// memberof overlays, and the monitor database (Operations), in a temporary
// directory, on a free loopback port, optionally with LDAPS and StartTLS
// from a generated CA. The server is
// stopped and its directory removed when the test ends.
package ldaptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ldap "github.com/go-ldap/ldap/v3"
	"golang.org/x/sys/unix"
)

// Directory layout of every server.
const (
	BaseDN     = "dc=example,dc=org"
	PeopleDN   = "ou=people," + BaseDN
	GroupsDN   = "ou=groups," + BaseDN
	DisabledDN = "ou=disabled," + BaseDN
	AdminDN    = "cn=admin," + BaseDN
	// PolicyDN is the default password policy (pwdLockout TRUE), so that
	// a pwdAccountLockedTime lock takes effect.
	PolicyDN      = "cn=ppolicy," + BaseDN
	AdminPassword = "admin-secret-0123"
)

// Paths of Debian's slapd installation.
const (
	slapdPath  = "/usr/sbin/slapd"
	moduleDir  = "/usr/lib/ldap"
	schemaDir  = "/etc/ldap/schema"
	installMsg = "WARNING: slapd not installed: run `make test-deps` (apt-get install slapd ldap-utils); the LDAP tests are SKIPPED"
)

// Options change the server Start runs.
type Options struct {
	// TLS adds an ldaps:// listener and StartTLS on the ldap:// one, with a
	// server certificate for 127.0.0.1 signed by a generated CA.
	TLS bool
	// RequireClientCert makes the server refuse TLS clients without a
	// certificate signed by the CA (implies TLS).
	RequireClientCert bool
	// Access are access directives (slapd.access(5), without the word
	// "access") for the whole server, root DSE and schema included, in
	// place of the default, under which everyone reads everything. They
	// never restrict AdminDN.
	Access []string
	// SortVals keeps the values of member, uniqueMember and memberUid
	// sorted (slapd.conf(5) sortvals), so that the server finds a value
	// among a large group's members by binary search.
	SortVals bool
}

// Server is a running slapd.
type Server struct {
	URL      string // ldap://127.0.0.1:port
	LDAPSURL string // ldaps://127.0.0.1:port, with Options.TLS
	Dir      string // the server's temporary directory
	// With Options.TLS: the CA certificate file, and a client certificate
	// and key signed by the CA.
	CAFile, ClientCertFile, ClientKeyFile string

	cmdArgs []string
	cmd     *exec.Cmd
	exited  chan error
}

// Available reports whether slapd is installed.
func Available() bool {
	_, err := os.Stat(slapdPath)
	return err == nil
}

// SkipIfMissing skips tb, loudly, when slapd is not installed.
func SkipIfMissing(tb testing.TB) {
	tb.Helper()
	if !Available() {
		warnOnce.Do(func() { fmt.Fprintln(os.Stderr, installMsg) })
		tb.Skip(installMsg)
	}
}

var warnOnce sync.Once

// Start starts a server with the base entries (BaseDN, PeopleDN, GroupsDN,
// DisabledDN, PolicyDN) and stops it when tb ends. It skips tb when slapd is missing.
func Start(tb testing.TB, opts ...Options) *Server {
	tb.Helper()
	SkipIfMissing(tb)
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	o.TLS = o.TLS || o.RequireClientCert
	dir := tb.TempDir()
	s := &Server{Dir: dir}
	var lastErr error
	for range 5 { // a free port may be taken before slapd binds it
		if lastErr = s.start(tb, o); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		tb.Fatalf("ldaptest: %v", lastErr)
	}
	if err := s.loadBase(); err != nil {
		tb.Fatalf("ldaptest: base entries: %v", err)
	}
	return s
}

// start writes the configuration and runs slapd until it answers.
func (s *Server) start(tb testing.TB, o Options) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", port)
	urls := s.URL + "/"
	var tlsConf string
	if o.TLS {
		tlsPort, err := freePort()
		if err != nil {
			return err
		}
		s.LDAPSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", tlsPort)
		urls += " " + s.LDAPSURL + "/"
		if s.CAFile == "" {
			if err := s.writeCerts(); err != nil {
				return err
			}
		}
		verify := "never"
		if o.RequireClientCert {
			verify = "demand"
		}
		tlsConf = fmt.Sprintf("TLSCACertificateFile %s\nTLSCertificateFile %s\nTLSCertificateKeyFile %s\nTLSVerifyClient %s\n",
			s.CAFile, filepath.Join(s.Dir, "server.crt"), filepath.Join(s.Dir, "server.key"), verify)
	}
	db := filepath.Join(s.Dir, "db")
	if err := os.MkdirAll(db, 0o700); err != nil {
		return err
	}
	var conf strings.Builder
	for _, sc := range []string{"core", "cosine", "inetorgperson", "nis"} {
		fmt.Fprintf(&conf, "include %s/%s.schema\n", schemaDir, sc)
	}
	for _, a := range o.Access {
		fmt.Fprintf(&conf, "access %s\n", a)
	}
	if o.SortVals {
		conf.WriteString("sortvals member uniqueMember memberUid\n")
	}
	fmt.Fprintf(&conf, `modulepath %s
moduleload back_mdb
moduleload ppolicy
moduleload memberof
pidfile %s/slapd.pid
argsfile %s/slapd.args
sizelimit unlimited
%s
database mdb
suffix "%s"
rootdn "%s"
rootpw %s
directory %s
maxsize 1073741824
dbnosync
index objectClass eq
index entryUUID eq
index uid,cn eq
index member,uniqueMember,memberUid eq
index employeeType,businessCategory eq
overlay memberof
overlay ppolicy
ppolicy_default "%s"
database monitor
`, moduleDir, s.Dir, s.Dir, tlsConf, BaseDN, AdminDN, AdminPassword, db, PolicyDN)
	confFile := filepath.Join(s.Dir, "slapd.conf")
	if err := os.WriteFile(confFile, []byte(conf.String()), 0o600); err != nil {
		return err
	}
	var out bytes.Buffer
	s.cmdArgs = []string{slapdPath, "-f", confFile, "-h", urls, "-d", "0"}
	cmd := exec.Command(s.cmdArgs[0], s.cmdArgs[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start slapd: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.URL, "ldap://"), time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			return fmt.Errorf("slapd exited (%v): %s", err, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("slapd did not answer on %s: %s", s.URL, out.String())
		}
	}
	s.cmd, s.exited = cmd, exited
	tb.Cleanup(s.stop)
	return nil
}

// stop stops slapd (gracefully, then by force) and waits for it.
func (s *Server) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGCONT)
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Stop stops slapd: clients get connection refused until Restart.
func (s *Server) Stop() { s.stop() }

// Restart stops slapd and starts it again on the same ports with the same
// data: the clients' connections break.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.stop()
	var out bytes.Buffer
	cmd := exec.Command(s.cmdArgs[0], s.cmdArgs[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		tb.Fatalf("ldaptest: restart slapd: %v", err)
	}
	s.exited = make(chan error, 1)
	go func(exited chan error) { exited <- cmd.Wait() }(s.exited)
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.URL, "ldap://"), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("ldaptest: slapd did not come back: %s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Pause stops the slapd process (SIGSTOP) until resume is called, or the
// test ends: requests hang, as with an unresponsive server. It returns once
// every thread of slapd has stopped: a signal stops them asynchronously, and
// on a busy machine a thread still running answers a request sent at once.
func (s *Server) Pause(tb testing.TB) (resume func()) {
	tb.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		tb.Fatalf("ldaptest: pause: %v", err)
	}
	// The kernel reports a stopped child once its whole thread group has
	// stopped. WNOWAIT leaves the report, and an exit, to cmd.Wait.
	const cldStopped = 5 // siginfo si_code of a stopped child (CLD_STOPPED)
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, s.cmd.Process.Pid, &info, unix.WSTOPPED|unix.WEXITED|unix.WNOWAIT, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			tb.Fatalf("ldaptest: pause: wait for slapd to stop: %v", err)
		}
		break
	}
	if info.Code != cldStopped {
		tb.Fatalf("ldaptest: pause: slapd ended instead of stopping (si_code %d)", info.Code)
	}
	var once sync.Once
	resume = func() { once.Do(func() { s.cmd.Process.Signal(syscall.SIGCONT) }) }
	tb.Cleanup(resume)
	return resume
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Dial returns a connection bound as the administrator.
func (s *Server) Dial() (*ldap.Conn, error) {
	c, err := ldap.DialURL(s.URL)
	if err != nil {
		return nil, err
	}
	if err := c.Bind(AdminDN, AdminPassword); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// MustDial is Dial that fails tb on error and closes the connection when tb ends.
func (s *Server) MustDial(tb testing.TB) *ldap.Conn {
	tb.Helper()
	c, err := s.Dial()
	if err != nil {
		tb.Fatalf("ldaptest: dial %s: %v", s.URL, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// Operations returns how many operations of each type (Add, Modify,
// Search, Compare, ...; the RDNs under cn=Operations,cn=Monitor) the server
// has started since it started, read from its monitor database: every
// operation answered before the call, and the search that reads them.
// (slapd counts an operation completed only after it has answered it, so
// the completed counts may lag behind the answers a client has.)
func (s *Server) Operations(tb testing.TB) map[string]int {
	tb.Helper()
	c := s.MustDial(tb)
	res, err := c.Search(ldap.NewSearchRequest("cn=Operations,cn=Monitor", ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"cn", "monitorOpInitiated"}, nil))
	if err != nil {
		tb.Fatalf("ldaptest: read the operation counters: %v", err)
	}
	out := map[string]int{}
	for _, e := range res.Entries {
		n, err := strconv.Atoi(e.GetAttributeValue("monitorOpInitiated"))
		if err != nil {
			tb.Fatalf("ldaptest: %s: monitorOpInitiated %q: %v", e.DN, e.GetAttributeValue("monitorOpInitiated"), err)
		}
		out[e.GetAttributeValue("cn")] = n
	}
	if len(out) == 0 {
		tb.Fatalf("ldaptest: no operation counters under cn=Operations,cn=Monitor")
	}
	return out
}

// loadBase adds the base entries.
func (s *Server) loadBase() error {
	c, err := s.Dial()
	if err != nil {
		return err
	}
	defer c.Close()
	add := func(dn string, attrs map[string][]string) error {
		r := ldap.NewAddRequest(dn, nil)
		for k, v := range attrs {
			r.Attribute(k, v)
		}
		return c.Add(r)
	}
	if err := add(BaseDN, map[string][]string{"objectClass": {"dcObject", "organization"}, "dc": {"example"}, "o": {"Example"}}); err != nil {
		return err
	}
	if err := add(PolicyDN, map[string][]string{"objectClass": {"device", "pwdPolicy"}, "cn": {"ppolicy"}, "pwdAttribute": {"userPassword"}, "pwdLockout": {"TRUE"}}); err != nil {
		return err
	}
	for _, ou := range []string{"people", "groups", "disabled"} {
		if err := add("ou="+ou+","+BaseDN, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {ou}}); err != nil {
			return err
		}
	}
	return nil
}

// Entries returns the entries under base matching filter (every user
// attribute plus entryUUID and pwdAccountLockedTime).
func (s *Server) Entries(tb testing.TB, base, filter string) []*ldap.Entry {
	tb.Helper()
	c := s.MustDial(tb)
	res, err := c.SearchWithPaging(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		filter, []string{"*", "entryUUID", "pwdAccountLockedTime"}, nil), 500)
	if err != nil {
		tb.Fatalf("ldaptest: search %s %s: %v", base, filter, err)
	}
	return res.Entries
}

// writeCerts generates a CA, a server certificate for 127.0.0.1 and a
// client certificate, PEM files in s.Dir.
func (s *Server) writeCerts() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ldaptest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	s.CAFile = filepath.Join(s.Dir, "ca.crt")
	if err := writePEM(s.CAFile, "CERTIFICATE", caDER); err != nil {
		return err
	}
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage, ips []net.IP) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
			DNSNames:     []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return err
		}
		if err := writePEM(filepath.Join(s.Dir, name+".crt"), "CERTIFICATE", der); err != nil {
			return err
		}
		return writePEM(filepath.Join(s.Dir, name+".key"), "PRIVATE KEY", kder)
	}
	if err := leaf("server", 2, x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)}); err != nil {
		return err
	}
	if err := leaf("client", 3, x509.ExtKeyUsageClientAuth, nil); err != nil {
		return err
	}
	s.ClientCertFile, s.ClientKeyFile = filepath.Join(s.Dir, "client.crt"), filepath.Join(s.Dir, "client.key")
	return nil
}

func writePEM(file, typ string, der []byte) error {
	return os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

// TLSConfig returns a client TLS configuration trusting the server's CA.
func (s *Server) TLSConfig(tb testing.TB) *tls.Config {
	tb.Helper()
	pemBytes, err := os.ReadFile(s.CAFile)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}
