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
// free ports and a temporary data directory, waits until its demo
// (cmd/h402demo: a few paid requests, without --exit) saw every payment
// finalized and keeps serving,
// sends it SIGTERM (then, in a second run, SIGINT), and checks that it exits
// and that no process it started (dev chains, node, ingest, settler, tee,
// the demo) survives. It also checks that a leftover JetStream store is wiped at
// start. The binaries are built by the script into bin/ (fast when the
// build cache is warm; the second run reuses them).
func TestRunDevStopsEverything(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			r := startRunDev(t, "--payments=4")
			r.waitLine(t, "demo: the seller keeps serving")
			r.checkAnnounced(t, "run-dev: wiping "+filepath.Join(r.data, "jetstream"), "demo:   finalized     4 (failed 0)")
			r.stop(t, sig)
		})
	}
}

// TestRunDevSmoke runs the smoke mode CI runs, `make run ARGS='--payments=20
// --exit'`, through the real script: 20 requests across the payload types
// on both chains, every one served and finalized with its receipt and its
// webhook delivery (the demo's receiver verifies signatures); then the
// script stops every process by itself and exits 0.
func TestRunDevSmoke(t *testing.T) {
	r := startRunDev(t, "--payments=20", "--exit")
	r.waitLine(t, "demo: summary")
	children := descendants(r.cmd.Process.Pid)
	select {
	case err := <-r.exited:
		if err != nil {
			t.Fatalf("smoke run: %v\nstdout:\n%s\nstderr:\n%s", err, r.out.String(), r.stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("smoke run did not exit 60 s after its summary\nstdout:\n%s", r.out.String())
	}
	r.checkAnnounced(t, "demo:   payments      20 (evm-h402 5, evm-x402v2 5, solana-client-fee 5, solana-fee-payer 5)",
		"demo:   served        20 requests", "demo:   finalized     20 (failed 0)", "demo:   receipts      20",
		"demo:   webhooks      20 payments delivered, signatures verified (0 rejected)", "demo:   EVM ", "demo:   wall time",
		"demo: where to look:", "status page: http://127.0.0.1:", "run-dev: smoke run complete", "run-dev: stopped")
	noSurvivors(t, children, "the smoke run's exit", r.out.String())
}

// runDev is one run of scripts/run-dev.sh.
type runDev struct {
	cmd         *exec.Cmd
	data        string
	stale       string
	out, stderr *syncBuffer
	exited      chan error
	mu          sync.Mutex
	waits       map[string]chan struct{}
}

// startRunDev starts the script with args (cmd/h402demo's) on free ports.
func startRunDev(t *testing.T, args ...string) *runDev {
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
	cmd := exec.Command(filepath.Join(root, "scripts", "run-dev.sh"), args...)
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
		"H402_DEV_DEMO_PORT="+freePort(t),
		"H402_LOG_LEVEL=warn",
	)
	// Its own process group, as a terminal would give it; the test's signal
	// goes to the script only, as `kill -TERM <pid>` does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	r := &runDev{cmd: cmd, data: data, stale: stale, out: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan error, 1), waits: map[string]chan struct{}{}}
	cmd.Stderr = r.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.out.Write([]byte(sc.Text() + "\n"))
			r.mu.Lock()
			for prefix, ch := range r.waits {
				if strings.HasPrefix(sc.Text(), prefix) {
					close(ch)
					delete(r.waits, prefix)
				}
			}
			r.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stdout)
		r.exited <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	return r
}

// waitLine waits for a line of standard output starting with prefix
// (registered before it can be printed: call it before the line is due).
func (r *runDev) waitLine(t *testing.T, prefix string) {
	t.Helper()
	ch := make(chan struct{})
	r.mu.Lock()
	if strings.Contains("\n"+r.out.String(), "\n"+prefix) {
		close(ch)
	} else {
		r.waits[prefix] = ch
	}
	r.mu.Unlock()
	select {
	case <-ch:
	case err := <-r.exited:
		r.exited <- err
		t.Fatalf("run-dev exited (%v) before printing %q\nstdout:\n%s\nstderr:\n%s", err, prefix, r.out.String(), r.stderr.String())
	case <-time.After(8 * time.Minute): // the first build of go-ethereum and solana-go is slow
		t.Fatalf("run-dev did not print %q after 8 min\nstdout:\n%s\nstderr:\n%s", prefix, r.out.String(), r.stderr.String())
	}
}

// checkAnnounced checks the script announced each step and the extra
// lines, and wiped the stale store.
func (r *runDev) checkAnnounced(t *testing.T, extra ...string) {
	t.Helper()
	for _, want := range append([]string{"run-dev: building", "run-dev: starting the dev chains", "run-dev: starting ingest", "run-dev: starting the settler",
		"run-dev: starting the watcher", "run-dev: ready", "run-dev: demo: a seller behind pkg/seller", "demo:   1."}, extra...) {
		if !strings.Contains(r.out.String(), want) {
			t.Errorf("run-dev did not announce %q; stdout:\n%s", want, r.out.String())
		}
	}
	if _, err := os.Stat(r.stale); !os.IsNotExist(err) {
		t.Errorf("the previous run's JetStream store survived: stat %s: %v", r.stale, err)
	}
}

// stop signals the script and checks that it exits and that nothing it
// started survives.
func (r *runDev) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	children := descendants(r.cmd.Process.Pid)
	if len(children) < 6 {
		t.Fatalf("run-dev has %d descendant processes %v, want at least devnet, tee, ingest, settler, watcher, h402demo", len(children), children)
	}
	if err := r.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("run-dev still running 30 s after %v\nstdout:\n%s", sig, r.out.String())
	}
	noSurvivors(t, children, sig.String(), r.out.String())
}

// noSurvivors checks that none of the processes lives on after what.
func noSurvivors(t *testing.T, children []int, what, out string) {
	t.Helper()
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
			t.Fatalf("processes started by run-dev survived %s: %v\nstdout:\n%s", what, alive, out)
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
