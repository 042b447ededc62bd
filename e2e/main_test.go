package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// bins holds the ingest and settler binaries built for this run.
var bins struct{ ingest, settler, watcher, recon, demo string }

// x402jsDir is the npm project of real x402 clients.
var x402jsDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	x402jsDir = filepath.Join(wd, "x402js")
	if _, err := os.Stat(filepath.Join(x402jsDir, "node_modules", "x402", "package.json")); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: the x402 client packages are not installed (%s/node_modules is missing or incomplete).\n"+
			"e2e: run scripts/deps.sh (or: cd e2e/x402js && npm ci) before go test ./e2e/...\n", x402jsDir)
		return 1
	}
	if _, err := exec.LookPath("node"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: node (Node.js 20+) is required to run the x402 client packages:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "h402-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bins.ingest, bins.settler = filepath.Join(dir, "ingest"), filepath.Join(dir, "settler")
	bins.watcher, bins.recon = filepath.Join(dir, "watcher"), filepath.Join(dir, "h402recon")
	bins.demo = filepath.Join(dir, "h402demo")
	for _, b := range []struct{ out, pkg string }{
		{bins.ingest, "./cmd/ingest"}, {bins.settler, "./cmd/settler"}, {bins.watcher, "./cmd/watcher"}, {bins.recon, "./cmd/h402recon"},
		{bins.demo, "./cmd/h402demo"},
	} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Dir = filepath.Dir(wd) // the module root
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: go build %s: %v\n%s", b.pkg, err, out)
			return 1
		}
	}
	return m.Run()
}
