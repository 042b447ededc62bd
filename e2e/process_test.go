package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a pipeline binary running as a subprocess. Its standard error
// (JSON log lines) is kept, and shown when the test fails.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed

	mu    sync.Mutex
	lines []string
	watch []logWatch
}

// logWatch delivers the first log line whose "msg" is msg.
type logWatch struct {
	msg string
	ch  chan map[string]any
}

// startProc starts bin with args and env added to the test's environment.
// It is stopped (SIGTERM, then SIGKILL) when the test ends.
func startProc(t *testing.T, name, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = io.Discard
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go p.read(stderr)
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("%s log (last lines):\n%s", name, p.tail(40))
		}
	})
	return p
}

func (p *proc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var m map[string]any
		_ = json.Unmarshal([]byte(line), &m)
		p.mu.Lock()
		p.lines = append(p.lines, line)
		if len(p.lines) > 500 {
			p.lines = p.lines[len(p.lines)-400:]
		}
		kept := p.watch[:0]
		for _, w := range p.watch {
			if m != nil && m["msg"] == w.msg {
				w.ch <- m
				continue
			}
			kept = append(kept, w)
		}
		p.watch = kept
		p.mu.Unlock()
	}
	p.err = p.cmd.Wait()
	close(p.done)
}

// waitLog waits for a log line with the given message and returns its fields.
func (p *proc) waitLog(t *testing.T, msg string, timeout time.Duration) map[string]any {
	t.Helper()
	ch := make(chan map[string]any, 1)
	p.mu.Lock()
	for _, line := range p.lines {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			p.mu.Unlock()
			return m
		}
	}
	p.watch = append(p.watch, logWatch{msg: msg, ch: ch})
	p.mu.Unlock()
	select {
	case m := <-ch:
		return m
	case <-p.done:
		t.Fatalf("%s exited (%v) before logging %q:\n%s", p.name, p.err, msg, p.tail(40))
	case <-time.After(timeout):
		t.Fatalf("%s did not log %q within %s:\n%s", p.name, msg, timeout, p.tail(40))
	}
	return nil
}

// stop sends SIGTERM and waits for a graceful exit, then kills.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s did not stop within 20s of SIGTERM; killed", p.name)
	}
	var ee *exec.ExitError
	if p.err != nil && !errors.As(p.err, &ee) {
		t.Errorf("%s: %v", p.name, p.err)
	}
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	lines := p.lines
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
