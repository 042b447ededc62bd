package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
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
)

// TestRunDevStopsEverything runs `make run`'s script (scripts/run-dev.sh) on
// free ports and a temporary data directory, waits until its demo payment
// went from accepted to finalized,
// sends it SIGTERM (then, in a second run, SIGINT), and checks that it exits
// and that no process it started (dev chains, node, ingest, settler, tee)
// survives. It also checks that a leftover JetStream store is wiped at
// start. The binaries are built by the script into bin/ (fast when the
// build cache is warm; the second run reuses them).
func TestRunDevStopsEverything(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) { runDevAndStop(t, sig) })
	}
}

func runDevAndStop(t *testing.T, sig syscall.Signal) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatalf("bash is required: %v", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	stale := filepath.Join(data, "jetstream", "stale-from-last-run")
	if err := os.MkdirAll(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(root, "scripts", "run-dev.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"H402_DEV_DATA="+data,
		"H402_DEV_EVM_PORT="+freePort(t),
		"H402_DEV_SOLANA_PORT="+freePort(t),
		"H402_DEV_INGEST_PORT="+freePort(t),
		"H402_DEV_NATS_PORT="+freePort(t),
		"H402_DEV_INGEST_ADMIN_PORT="+freePort(t),
		"H402_DEV_SETTLER_ADMIN_PORT="+freePort(t),
		"H402_DEV_WATCHER_ADMIN_PORT="+freePort(t),
		"H402_LOG_LEVEL=warn",
	)
	// Its own process group, as a terminal would give it; the test's signal
	// goes to the script only, as `kill -TERM <pid>` does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var out syncBuffer
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			out.Write([]byte(sc.Text() + "\n"))
			// Ready once the demo payment is followed to its end.
			if strings.HasPrefix(sc.Text(), "run-dev: demo payment") {
				once.Do(func() { close(ready) })
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })

	select {
	case <-ready:
	case err := <-exited:
		t.Fatalf("run-dev exited before ready: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), stderr.String())
	case <-time.After(8 * time.Minute): // the first build of go-ethereum and solana-go is slow
		t.Fatalf("run-dev not ready after 8 min\nstdout:\n%s\nstderr:\n%s", out.String(), stderr.String())
	}
	for _, want := range []string{"run-dev: building", "run-dev: wiping " + filepath.Join(data, "jetstream"), "run-dev: starting the dev chains", "run-dev: starting ingest", "run-dev: starting the settler",
		"run-dev: starting the watcher", "run-dev: ready", "run-dev:   state finalized tx 0x", "run-dev: demo payment finalized"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("run-dev did not announce %q; stdout:\n%s", want, out.String())
		}
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the previous run's JetStream store survived: stat %s: %v", stale, err)
	}
	children := descendants(cmd.Process.Pid)
	if len(children) < 5 {
		t.Fatalf("run-dev has %d descendant processes %v, want at least devnet, tee, ingest, settler, watcher", len(children), children)
	}

	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("run-dev still running 30 s after %v\nstdout:\n%s", sig, out.String())
	}
	// The script waited for its children; give the kernel a bounded moment
	// to reap any that were reparented.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var alive []string
		for _, pid := range children {
			if state, ok := procState(pid); ok && state != "Z" {
				alive = append(alive, fmt.Sprintf("%d (%s)", pid, cmdline(pid)))
			}
		}
		if len(alive) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes started by run-dev survived %v: %v\nstdout:\n%s", sig, alive, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// descendants lists every process below pid, from /proc.
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := procPPID(p); ok {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// procStat returns the fields of /proc/<pid>/stat after the command name.
func procStat(pid int) ([]string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, false
	}
	return strings.Fields(string(b[i+1:])), true
}

func procPPID(pid int) (int, bool) {
	f, ok := procStat(pid)
	if !ok || len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

func procState(pid int) (string, bool) {
	f, ok := procStat(pid)
	if !ok || len(f) < 1 {
		return "", false
	}
	return f[0], true
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
