// Package dbtest starts throwaway database servers for tests: a MariaDB
// (mariadbd from Debian's mariadb-server) or a PostgreSQL (Debian's
// postgresql-15) in a temporary directory, listening on a free loopback
// port with password authentication, stopped and removed when the test
// ends. A test that cannot find the server's binaries is skipped with a
// loud WARNING (on stderr too, so that it shows without -v); a server that
// is installed but does not start fails the test.
//
// Starting a server takes a second or two; tests share one per top-level
// test and take a fresh database each with NewDatabase.
package dbtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Dialects of a Server.
const (
	MySQL    = "mysql"
	Postgres = "postgres"
)

// Server is a running throwaway database server.
type Server struct {
	// Dialect is MySQL or Postgres.
	Dialect string
	// Host and Port are where the server listens (127.0.0.1).
	Host string
	Port int
	// User and Password are the superuser's credentials.
	User, Password string
	// Dir is the server's temporary directory (data, socket, log).
	Dir string

	admin   *sql.DB        // the superuser, on the default database
	log     string         // the server's log file
	rootCAs *x509.CertPool // the CA of a TLS-only server
	// run starts the server process on Port until it is ready; halt
	// stops the running process (once).
	run  func() error
	halt func()
	// pid is the running server process's (0 before it is ready).
	pid int
}

// startTimeout bounds a server's start.
const startTimeout = 60 * time.Second

// dbSeq numbers the databases of NewDatabase.
var dbSeq atomic.Int64

// skip skips the test loudly: the suite did not run.
func skip(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := "WARNING: " + fmt.Sprintf(format, args...) + "; the tests that need it are SKIPPED, not passed"
	fmt.Fprintln(os.Stderr, msg)
	tb.Skip(msg)
}

// lookPath finds a binary in PATH or in dirs (globs).
func lookPath(name string, dirs ...string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range dirs {
		matches, _ := filepath.Glob(filepath.Join(d, name))
		slices.Sort(matches)
		for i := len(matches) - 1; i >= 0; i-- { // the newest version first
			if fi, err := os.Stat(matches[i]); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				return matches[i]
			}
		}
	}
	return ""
}

// pickPort picks the port of a server (a test of the retry replaces it).
var pickPort = freePort

// freePort returns a loopback port that was free a moment ago.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("dbtest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// tempDir creates the server's directory, removed at cleanup, owned by
// owner when not nil (PostgreSQL refuses to run as root).
func tempDir(tb testing.TB, prefix string, owner *syscall.Credential) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if owner != nil {
		if err := os.Chown(dir, int(owner.Uid), int(owner.Gid)); err != nil {
			tb.Fatalf("dbtest: %v", err)
		}
	}
	return dir
}

// command returns a command run as cred (nil: this process's user) that
// is killed if this process dies.
func command(cred *syscall.Credential, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// run runs a setup command, failing the test with its output.
func run(tb testing.TB, cmd *exec.Cmd) {
	tb.Helper()
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("dbtest: %s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
}

// serve starts the server with a command from newCmd (which reads
// s.Port), waits until ready answers, and stops it with sig at cleanup
// (after a Stop and Start, the process then running).
// When another process took the port meanwhile, it tries again on a new
// one.
func (s *Server) serve(tb testing.TB, newCmd func() *exec.Cmd, sig os.Signal, ready func(ctx context.Context) error) {
	tb.Helper()
	s.run = func() error { return s.start(newCmd(), sig, ready) }
	for attempt := 1; ; attempt++ {
		err := s.run()
		if err == nil {
			tb.Cleanup(func() { s.halt() }) // the process running then
			return
		}
		if attempt < 3 && strings.Contains(s.logTail(), "Address already in use") {
			s.Port = pickPort(tb)
			continue
		}
		tb.Fatalf("dbtest: %v; log:\n%s", err, s.logTail())
	}
}

// start runs cmd until it is ready, or returns why not with the process
// stopped.
func (s *Server) start(cmd *exec.Cmd, sig os.Signal, ready func(ctx context.Context) error) error {
	logf, err := os.Create(s.log)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	stop := func() {
		cmd.Process.Signal(sig)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		// Each try is short: a port that another process holds may accept
		// a connection and never answer.
		try, cancelTry := context.WithTimeout(ctx, 2*time.Second)
		err := ready(try)
		cancelTry()
		if err == nil {
			s.halt = sync.OnceFunc(stop)
			s.pid = cmd.Process.Pid
			return nil
		}
		select {
		case werr := <-exited:
			return fmt.Errorf("%s exited before it was ready (%v): last error %v", filepath.Base(cmd.Path), werr, err)
		case <-ctx.Done():
			stop()
			return fmt.Errorf("%s not ready after %v: %v", filepath.Base(cmd.Path), startTimeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop stops the server: clients get connection refused until Start.
func (s *Server) Stop() { s.halt() }

// Start starts a stopped server again, on its port with its data, and
// waits until it answers.
func (s *Server) Start(tb testing.TB) {
	tb.Helper()
	if err := s.run(); err != nil {
		tb.Fatalf("dbtest: restart: %v; log:\n%s", err, s.logTail())
	}
}

// clockTick is the unit of the CPU times in /proc/PID/stat (USER_HZ,
// 100 on every Linux architecture that Go supports).
const clockTick = 10 * time.Millisecond

// CPUTime returns the user and system CPU time that the running server
// has used since it started: its process (all its threads: MariaDB), the
// processes it started and still runs (PostgreSQL's backends), and those
// that have exited (counted in their parent's). It reads /proc (Linux).
func (s *Server) CPUTime() (time.Duration, error) {
	root := s.pid
	if root == 0 {
		return 0, errors.New("dbtest: the server is not running")
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("dbtest: server CPU time: %w", err)
	}
	type proc struct{ ppid, ticks int }
	procs := map[int]proc{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid … utime stime cutime cstime: comm may
		// hold spaces and parentheses, the fields follow its last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 15 {
			continue
		}
		p := proc{}
		p.ppid, _ = strconv.Atoi(f[1])
		for _, v := range f[11:15] {
			n, _ := strconv.Atoi(v)
			p.ticks += n
		}
		procs[pid] = p
	}
	if _, ok := procs[root]; !ok {
		return 0, fmt.Errorf("dbtest: server CPU time: process %d not found", root)
	}
	ticks := 0
	for pid, p := range procs {
		for q := pid; q > 1; q = procs[q].ppid {
			if q == root {
				ticks += p.ticks
				break
			}
			if _, ok := procs[q]; !ok {
				break
			}
		}
	}
	return time.Duration(ticks) * clockTick, nil
}

// logTail returns the end of the server's log.
func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// StartMariaDB starts a MariaDB server whose root user has a random
// password, or skips the test loudly when MariaDB is not installed.
func StartMariaDB(tb testing.TB) *Server {
	tb.Helper()
	return startMariaDB(tb, false)
}

// StartMariaDBTLS starts a MariaDB server that accepts only TLS
// connections, with a certificate for 127.0.0.1 from a CA of its own, and
// returns it with the CA's PEM file.
func StartMariaDBTLS(tb testing.TB) (*Server, string) {
	tb.Helper()
	s := startMariaDB(tb, true)
	return s, filepath.Join(s.Dir, "ca.pem")
}

func startMariaDB(tb testing.TB, withTLS bool) *Server {
	tb.Helper()
	mariadbd := lookPath("mariadbd", "/usr/sbin", "/usr/local/sbin")
	installDB := lookPath("mariadb-install-db", "/usr/bin", "/usr/local/bin", "/usr/sbin")
	if mariadbd == "" || installDB == "" {
		skip(tb, "MariaDB is not installed (mariadbd, mariadb-install-db not found in PATH or /usr/sbin): run `make test-deps` (apt-get install mariadb-server)")
	}
	dir := tempDir(tb, "dbtest-mariadb-*", nil)
	data := filepath.Join(dir, "data")
	var asRoot []string
	if os.Geteuid() == 0 {
		asRoot = []string{"--user=root"}
	}
	run(tb, command(nil, installDB, append([]string{"--no-defaults", "--auth-root-authentication-method=normal",
		"--datadir=" + data, "--skip-test-db"}, asRoot...)...))
	s := &Server{Dialect: MySQL, Host: "127.0.0.1", Port: pickPort(tb), User: "root", Password: randomHex(12), Dir: dir, log: filepath.Join(dir, "server.log")}
	extra := append(asRoot, s.tlsArgs(tb, withTLS)...)
	newCmd := func() *exec.Cmd {
		return command(nil, mariadbd, append([]string{"--no-defaults", "--datadir=" + data,
			"--port=" + strconv.Itoa(s.Port), "--bind-address=127.0.0.1", "--socket=" + filepath.Join(dir, "mysqld.sock"),
			"--pid-file=" + filepath.Join(dir, "mysqld.pid"), "--skip-name-resolve", "--skip-log-bin",
			"--innodb-buffer-pool-size=128M", "--max-connections=500",
			"--character-set-server=utf8mb4", "--collation-server=utf8mb4_bin"}, extra...)...)
	}
	// The root user has no password until the server is up: the first
	// successful connection sets it (unless a try that timed out did).
	s.serve(tb, newCmd, syscall.SIGTERM, func(ctx context.Context) error {
		withPassword := sql.OpenDB(must(mysql.NewConnector(s.mysqlConfig(""))))
		err := withPassword.PingContext(ctx)
		withPassword.Close()
		if err == nil {
			return nil
		}
		cfg := s.mysqlConfig("")
		cfg.Passwd = ""
		db := sql.OpenDB(must(mysql.NewConnector(cfg)))
		defer db.Close()
		if err := db.PingContext(ctx); err != nil {
			return err
		}
		// The password is our own hex: no quoting problem.
		_, err = db.ExecContext(ctx, "ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '"+s.Password+"'")
		return err
	})
	s.admin = s.OpenDB(tb, "")
	return s
}

// tlsArgs makes a CA and a server certificate in the server's directory
// and returns mariadbd's arguments that require TLS with them.
func (s *Server) tlsArgs(tb testing.TB, withTLS bool) []string {
	if !withTLS {
		return nil
	}
	caKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dbtest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER := must(x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey))
	key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der := must(x509.CreateCertificate(rand.Reader, tmpl, must(x509.ParseCertificate(caDER)), &key.PublicKey, caKey))
	keyDER := must(x509.MarshalECPrivateKey(key))
	files := map[string]*pem.Block{
		"ca.pem":   {Type: "CERTIFICATE", Bytes: caDER},
		"cert.pem": {Type: "CERTIFICATE", Bytes: der},
		"key.pem":  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(s.Dir, name), pem.EncodeToMemory(b), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	s.rootCAs = x509.NewCertPool()
	s.rootCAs.AddCert(must(x509.ParseCertificate(caDER)))
	return []string{"--ssl-ca=" + filepath.Join(s.Dir, "ca.pem"), "--ssl-cert=" + filepath.Join(s.Dir, "cert.pem"),
		"--ssl-key=" + filepath.Join(s.Dir, "key.pem"), "--require-secure-transport=ON"}
}

// StartPostgres starts a PostgreSQL server whose superuser postgres has a
// random password (scram-sha-256), or skips the test loudly when
// PostgreSQL is not installed. As root, the server runs as the postgres
// user.
func StartPostgres(tb testing.TB) *Server {
	tb.Helper()
	bins := []string{"/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin"}
	initdb, postgres := lookPath("initdb", bins...), lookPath("postgres", bins...)
	if initdb == "" || postgres == "" {
		skip(tb, "PostgreSQL is not installed (initdb, postgres not found in PATH or /usr/lib/postgresql/*/bin): run `make test-deps` (apt-get install postgresql-15)")
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			skip(tb, "PostgreSQL refuses to run as root and there is no postgres user (%v): run `make test-deps` (apt-get install postgresql-15)", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir := tempDir(tb, "dbtest-postgres-*", cred)
	s := &Server{Dialect: Postgres, Host: "127.0.0.1", Port: pickPort(tb), User: "postgres", Password: randomHex(12), Dir: dir, log: filepath.Join(dir, "server.log")}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.Password+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	if cred != nil {
		os.Chown(pwfile, int(cred.Uid), int(cred.Gid))
	}
	data := filepath.Join(dir, "data")
	run(tb, command(cred, initdb, "-D", data, "-U", "postgres", "--pwfile="+pwfile, "-A", "scram-sha-256",
		"-E", "UTF8", "--no-locale", "--no-sync"))
	os.Remove(pwfile)
	newCmd := func() *exec.Cmd {
		cmd := command(cred, postgres, "-D", data, "-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(s.Port),
			"-k", dir, "-c", "max_connections=300", "-c", "shared_buffers=64MB")
		cmd.Dir = dir
		return cmd
	}
	s.serve(tb, newCmd, syscall.SIGINT, func(ctx context.Context) error {
		db := s.openPostgres("postgres")
		defer db.Close()
		return db.PingContext(ctx)
	})
	s.admin = s.OpenDB(tb, "")
	return s
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// mysqlConfig returns the driver configuration for database.
func (s *Server) mysqlConfig(database string) *mysql.Config {
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	cfg.User, cfg.Passwd, cfg.DBName = s.User, s.Password, database
	if s.rootCAs != nil {
		cfg.TLS = &tls.Config{RootCAs: s.rootCAs, ServerName: s.Host}
	}
	return cfg
}

// openPostgres opens database.
func (s *Server) openPostgres(database string) *sql.DB {
	cfg := must(pgx.ParseConfig(""))
	cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database = s.Host, uint16(s.Port), s.User, s.Password, database
	cfg.TLSConfig, cfg.Fallbacks = nil, nil
	return stdlib.OpenDB(*cfg)
}

// OpenDB opens a connection pool to database ("" for the server's
// default) as the superuser, closed at cleanup.
func (s *Server) OpenDB(tb testing.TB, database string) *sql.DB {
	tb.Helper()
	var db *sql.DB
	if s.Dialect == MySQL {
		db = sql.OpenDB(must(mysql.NewConnector(s.mysqlConfig(database))))
	} else {
		db = s.openPostgres(cmpOr(database, "postgres"))
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// DSN returns a data source name for database in the dialect's driver
// form (go-sql-driver's user:pass@tcp(host:port)/db, or a postgres:// URL).
func (s *Server) DSN(database string) string {
	if s.Dialect == MySQL {
		return s.mysqlConfig(database).FormatDSN()
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(s.User, s.Password), Host: net.JoinHostPort(s.Host, strconv.Itoa(s.Port)),
		Path: "/" + cmpOr(database, "postgres"), RawQuery: "sslmode=disable"}
	return u.String()
}

// Exec runs statements on the default database as the superuser, failing
// the test on an error.
func (s *Server) Exec(tb testing.TB, stmts ...string) {
	tb.Helper()
	for _, q := range stmts {
		if _, err := s.admin.ExecContext(context.Background(), q); err != nil {
			tb.Fatalf("dbtest: %s: %v", q, err)
		}
	}
}

// NewDatabase creates a fresh empty database, dropped at cleanup, and
// returns its name and a superuser pool on it.
func (s *Server) NewDatabase(tb testing.TB) (string, *sql.DB) {
	tb.Helper()
	name := fmt.Sprintf("t%d_%s", dbSeq.Add(1), randomHex(4))
	s.Exec(tb, "CREATE DATABASE "+name)
	db := s.OpenDB(tb, name)
	tb.Cleanup(func() {
		db.Close()
		q := "DROP DATABASE IF EXISTS " + name
		if s.Dialect == Postgres {
			q += " WITH (FORCE)"
		}
		if _, err := s.admin.ExecContext(context.Background(), q); err != nil && !errors.Is(err, sql.ErrConnDone) {
			tb.Logf("dbtest: %s: %v", q, err)
		}
	})
	return name, db
}

// Dump returns the rows of query as lines of tab-separated values, NULL
// for null: a compact form for assertions.
func Dump(tb testing.TB, db *sql.DB, query string, args ...any) []string {
	tb.Helper()
	rows, err := db.QueryContext(context.Background(), query, args...)
	if err != nil {
		tb.Fatalf("dbtest: %s: %v", query, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	out := []string{}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			tb.Fatalf("dbtest: %s: %v", query, err)
		}
		var line bytes.Buffer
		for i, v := range vals {
			if i > 0 {
				line.WriteByte('\t')
			}
			switch v := v.(type) {
			case nil:
				line.WriteString("NULL")
			case []byte:
				line.Write(v)
			case time.Time:
				line.WriteString("<time>")
			default:
				fmt.Fprint(&line, v)
			}
		}
		out = append(out, line.String())
	}
	if err := rows.Err(); err != nil {
		tb.Fatalf("dbtest: %s: %v", query, err)
	}
	return out
}
