package connectorv1_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// ProtocGenGoGRPCVersion is the pinned protoc-gen-go-grpc (the Makefile's
// proto target uses the same). protoc-gen-go is built from the
// google.golang.org/protobuf version of go.mod.
const ProtocGenGoGRPCVersion = "v1.6.0"

// protocVersionLine is the generated header line naming protoc's version,
// which differs between Debian releases without changing the code.
var protocVersionLine = regexp.MustCompile(`(?m)^// (- )?protoc +v[0-9.]+\n`)

// TestGeneratedCodeIsFresh regenerates the Go code of connector.proto into
// a temporary directory with protoc and the pinned plugins, and fails when
// the committed code differs: run `make proto`.
func TestGeneratedCodeIsFresh(t *testing.T) {
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		fmt.Println("WARNING: protoc not found (apt-get install protobuf-compiler): generated code NOT checked")
		t.Skip("SKIPPED: protoc not found (apt-get install protobuf-compiler); the generated code is not checked")
	}
	if testing.Short() {
		fmt.Println("WARNING: -short: generated code NOT checked")
		t.Skip("SKIPPED (-short): builds protoc plugins")
	}
	bin := t.TempDir()
	build := func(args ...string) {
		cmd := exec.Command("go", args...)
		cmd.Env = append(os.Environ(), "GOBIN="+bin)
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Printf("WARNING: cannot build a protoc plugin (%v): generated code NOT checked\n", err)
			t.Skipf("SKIPPED: go %v: %v\n%s", args, err, out)
		}
	}
	build("build", "-o", bin, "google.golang.org/protobuf/cmd/protoc-gen-go")
	build("install", "google.golang.org/grpc/cmd/protoc-gen-go-grpc@"+ProtocGenGoGRPCVersion)

	out := t.TempDir()
	cmd := exec.Command(protoc, "-I.", "--go_out="+out, "--go_opt=paths=source_relative",
		"--go-grpc_out="+out, "--go-grpc_opt=paths=source_relative", "connector.proto")
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, b)
	}
	for _, f := range []string{"connector.pb.go", "connector_grpc.pb.go"} {
		want, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("%v: run `make proto`", err)
		}
		if !bytes.Equal(protocVersionLine.ReplaceAll(got, nil), protocVersionLine.ReplaceAll(want, nil)) {
			t.Errorf("%s is stale: it differs from what connector.proto generates; run `make proto` and commit the result", f)
		}
	}
}
