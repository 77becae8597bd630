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

	"github.com/scimgate/scimgate/internal/store"
)

// crashEnv switches the test binary into the writer child of
// TestCrashDurability; its value is the database path.
const crashEnv = "SCIMGATE_STORE_CRASH_CHILD_DB"

// TestCrashDurability kills a writing process with SIGKILL and checks that
// every write it acknowledged survives.
func TestCrashDurability(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDurability$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
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

	s := reopen(t, path)
	ctx := context.Background()
	for _, id := range acked {
		if _, err := s.Get(ctx, "User", id); err != nil {
			t.Errorf("acknowledged %s: %v", id, err)
		}
	}
	mustCreate(t, s, user("after-crash", "after-crash"))
}

// crashChild creates users from 8 goroutines until it is killed, printing
// each id once its Write has returned.
func crashChild(path string) {
	s, err := OpenSQLite(context.Background(), path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("c%d-%06d", g, i)
				r := user(id, id)
				err := s.Write(context.Background(), func(ctx context.Context, tx store.Tx) error { return tx.Create(ctx, &r) })
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
