package soldev

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// installMu serialises installs inside one process; a file lock serialises
// them across processes (go test runs packages in parallel).
var installMu sync.Mutex

// depsInstalled reports whether `npm ci` has populated node_modules.
func depsInstalled(dir string) bool {
	for _, f := range []string{
		filepath.Join(dir, "node_modules", ".package-lock.json"),
		filepath.Join(dir, "node_modules", "litesvm", "package.json"),
	} {
		if _, err := os.Stat(f); err != nil {
			return false
		}
	}
	return true
}

// ensureDeps runs `npm ci` in the localnet folder when node_modules is missing.
func ensureDeps(ctx context.Context, t tools) error {
	if depsInstalled(t.dir) {
		return nil
	}
	installMu.Lock()
	defer installMu.Unlock()

	lockPath := filepath.Join(t.dir, ".npm-ci.lock")
	lock, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("soldev: open install lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("soldev: take install lock %s: %w", lockPath, err)
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()
	if depsInstalled(t.dir) { // another process installed while we waited
		return nil
	}
	cmd := exec.CommandContext(ctx, t.npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = t.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("soldev: npm ci in %s: %w\n%s", t.dir, err, strings.TrimSpace(string(out)))
	}
	if !depsInstalled(t.dir) {
		return fmt.Errorf("soldev: npm ci in %s finished but node_modules/litesvm is missing", t.dir)
	}
	return nil
}
