package storetest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/scimgate/scimgate/internal/store"
)

// Crasher tells RunCrash how another process finds a backend's database:
// Locate creates a fresh, empty database and returns where it is (a path,
// a DSN); Open opens a store there, in the test's process and in the
// writer process that RunCrash starts and kills.
type Crasher struct {
	Locate func(t testing.TB) string
	Open   func(ctx context.Context, at string) (store.Store, error)
}

// crashEnv turns the test binary into RunCrash's writer; its value is the
// database's location.
const crashEnv = "SCIMGATE_STORETEST_CRASH_AT"

// crashAcks is how many writes the writer acknowledges before it is
// killed.
const crashAcks = 500

// RunCrash kills a process that writes to a store with SIGKILL, as a
// replica dies, and opens the database again: every Write the process
// acknowledged survives, none is half there (each writes a pair of users),
// and the store takes new writes. The process is the test binary, running
// the test that called RunCrash again: that test must call RunCrash
// before anything else (before starting a server: Locate does that),
// since the writer process enters RunCrash through it and never returns.
func RunCrash(t *testing.T, c Crasher) {
	if at, ok := os.LookupEnv(crashEnv); ok {
		crashWriter(c, at)
		return
	}
	at := c.Locate(t)
	acked := crashWrites(t, at)
	s, err := c.Open(context.Background(), at)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
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
}

// crashWrites runs the writer process on the database at at until it has
// acknowledged crashAcks writes, kills it and returns their ids.
func crashWrites(t *testing.T, at string) []string {
	t.Helper()
	var run []string
	for _, part := range strings.Split(t.Name(), "/") {
		run = append(run, "^"+regexp.QuoteMeta(part)+"$")
	}
	cmd := exec.Command(os.Args[0], "-test.run="+strings.Join(run, "/"), "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+at)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	sc := bufio.NewScanner(out)
	for len(acked) < crashAcks && sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
			acked = append(acked, id)
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if len(acked) < crashAcks {
		t.Fatalf("the writer acknowledged only %d writes (scan error %v)", len(acked), sc.Err())
	}
	return acked
}

// crashWriter writes pairs of users from 8 goroutines until it is killed,
// printing each pair's id once its Write has returned.
func crashWriter(c Crasher, at string) {
	s, err := c.Open(context.Background(), at)
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
