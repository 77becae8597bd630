package sqlstore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/scimgate/scimgate/internal/dbtest"
	"github.com/scimgate/scimgate/internal/store"
)

// crashEnv switches the test binary into the writer child of
// TestCrashDurability; its value is the database's kind and its path or
// DSN, separated by a tab.
const crashEnv = "SCIMGATE_STORE_CRASH_CHILD_DB"

// crashOpen opens the database of a kind ("sqlite", "postgres", "mysql")
// at a path or DSN.
func crashOpen(kind, at string) (*SQL, error) {
	ctx := context.Background()
	switch kind {
	case "postgres":
		return OpenPostgres(ctx, at)
	case "mysql":
		return OpenMySQL(ctx, at)
	}
	return OpenSQLite(ctx, at)
}

// TestCrashDurability kills a process that writes to the store with
// SIGKILL (as a replica dies) and opens the database again: every write
// it acknowledged survives, and no write is half there (each writes a
// pair of users in one Write). storetest checks what a closed store
// keeps; a killed process is this package's own test.
func TestCrashDurability(t *testing.T) {
	if kind, at, ok := strings.Cut(os.Getenv(crashEnv), "\t"); ok {
		crashChild(kind, at)
		return
	}
	for _, tc := range []struct {
		name  string
		start func(testing.TB) *dbtest.Server // nil: SQLite
	}{
		{"sqlite", nil},
		{"postgres", dbtest.StartPostgres},
		{"mysql", dbtest.StartMariaDB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := filepath.Join(t.TempDir(), "crash.db")
			if tc.start != nil {
				srv := tc.start(t)
				name, _ := srv.NewDatabase(t)
				at = srv.DSN(name)
			}
			acked := crashWriter(t, tc.name, at)
			s := mustOpen(t)(crashOpen(tc.name, at))
			ctx := context.Background()
			for _, id := range acked {
				for _, p := range []string{"a", "b"} {
					if _, err := s.Get(ctx, "User", p+id); err != nil {
						t.Errorf("acknowledged %s%s: %v", p, id, err)
					}
				}
			}
			ids, err := s.Find(ctx, "User", nil)
			if err != nil {
				t.Fatal(err)
			}
			stored := map[string]int{}
			for _, id := range ids {
				stored[id[1:]]++
			}
			for id, n := range stored {
				if n != 2 {
					t.Errorf("half of the write %s is stored", id)
				}
			}
			t.Logf("%d writes acknowledged, %d stored", len(acked), len(stored))
			mustCreate(t, s, user("after-crash", "after-crash"))
		})
	}
}

// crashWriter runs the writer child on the database at at until it has
// acknowledged 500 writes, kills it and returns their ids.
func crashWriter(t *testing.T, kind, at string) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDurability$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+kind+"\t"+at)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const want = 500
	var acked []string
	sc := bufio.NewScanner(out)
	for len(acked) < want && sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
			acked = append(acked, id)
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if len(acked) < want {
		t.Fatalf("child acknowledged only %d writes (scan error %v)", len(acked), sc.Err())
	}
	return acked
}

// crashChild writes pairs of users from 8 goroutines until it is killed,
// printing each pair's id once its Write has returned.
func crashChild(kind, at string) {
	s, err := crashOpen(kind, at)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("%d-%06d", g, i)
				err := s.Write(context.Background(), func(ctx context.Context, tx store.Tx) error {
					for _, p := range []string{"a", "b"} {
						r := user(p+id, p+id)
						if err := tx.Create(ctx, &r); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %s\n", id) // one write(2) per line
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
