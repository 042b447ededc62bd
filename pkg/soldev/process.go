package soldev

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	minNodeMajor = 20
	stopGrace    = 5 * time.Second
	logTailBytes = 8 << 10
)

// tools are the resolved executables and the localnet folder.
type tools struct {
	node, npm, dir string
}

// findTools resolves node, npm and the localnet folder, and checks node's version.
func findTools(ctx context.Context, cfg Config) (tools, error) {
	var t tools
	var err error
	if t.node, err = exec.LookPath(cfg.Node); err != nil {
		return t, fmt.Errorf("soldev: node (%q) not found: install Node.js >= %d; the Solana localnet runs on it: %w", cfg.Node, minNodeMajor, err)
	}
	if t.npm, err = exec.LookPath(cfg.Npm); err != nil {
		return t, fmt.Errorf("soldev: npm (%q) not found: install npm (it comes with Node.js); the Solana localnet needs it to install LiteSVM: %w", cfg.Npm, err)
	}
	out, err := exec.CommandContext(ctx, t.node, "--version").Output()
	if err != nil {
		return t, fmt.Errorf("soldev: run %s --version: %w", t.node, err)
	}
	v := strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
	major, err := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	if err != nil || major < minNodeMajor {
		return t, fmt.Errorf("soldev: node %s is too old or unreadable (got %q): the Solana localnet needs Node.js >= %d", t.node, v, minNodeMajor)
	}
	if t.dir, err = localnetDir(cfg.Dir); err != nil {
		return t, err
	}
	return t, nil
}

// localnetDir finds the folder holding server.js.
func localnetDir(configured string) (string, error) {
	var candidates []string
	if configured != "" {
		candidates = []string{configured}
	} else {
		if env := os.Getenv("SOLDEV_LOCALNET_DIR"); env != "" {
			candidates = append(candidates, env)
		}
		if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
			candidates = append(candidates, filepath.Join(filepath.Dir(file), "..", "..", "localnet"))
		}
		if wd, err := os.Getwd(); err == nil {
			for d := wd; ; d = filepath.Dir(d) {
				candidates = append(candidates, filepath.Join(d, "localnet"))
				if filepath.Dir(d) == d {
					break
				}
			}
		}
	}
	for _, c := range candidates {
		if st, err := os.Stat(filepath.Join(c, "server.js")); err == nil && st.Mode().IsRegular() {
			return filepath.Abs(c)
		}
	}
	return "", fmt.Errorf("soldev: localnet folder (with server.js) not found; looked in %s; set Config.Dir or SOLDEV_LOCALNET_DIR", strings.Join(candidates, ", "))
}

// process is the running server.
type process struct {
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	exited    chan struct{}
	waitErr   error
	log       *tailBuffer
	closeOnce sync.Once
	closeErr  error
}

// startProcess starts server.js on its loopback port (a free one when zero) and returns its manifest line.
func startProcess(ctx context.Context, t tools, cfg Config) (*process, []byte, error) {
	args := []string{
		"server.js",
		"--host", cfg.Host,
		"--port", strconv.Itoa(cfg.Port),
		"--slot-ms", strconv.FormatInt(cfg.SlotInterval.Milliseconds(), 10),
		"--blockhash-expiry", strconv.Itoa(cfg.BlockhashExpirySlots),
		"--finality-depth", strconv.Itoa(cfg.FinalityDepthSlots),
		"--payers", strconv.Itoa(cfg.Payers),
		"--fee-payers", strconv.Itoa(cfg.FeePayers),
		"--exit-on-stdin-eof", "1",
	}
	cmd := exec.Command(t.node, args...)
	cmd.Dir = t.dir
	cmd.Env = localnetEnv(os.Environ())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &process{cmd: cmd, exited: make(chan struct{}), log: &tailBuffer{max: logTailBytes}}
	var stderr io.Writer = p.log
	if cfg.Log != nil {
		stderr = io.MultiWriter(p.log, cfg.Log)
	}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, fmt.Errorf("soldev: stdout pipe: %w", err)
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, nil, fmt.Errorf("soldev: stdin pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("soldev: start %s %s in %s: %w", t.node, strings.Join(args, " "), t.dir, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()

	lines := make(chan []byte, 1)
	go func() {
		r := bufio.NewReaderSize(stdout, 64<<10)
		line, err := r.ReadBytes('\n')
		if err == nil {
			lines <- line
		}
		close(lines)
		_, _ = io.Copy(io.Discard, r)
	}()
	select {
	case line, ok := <-lines:
		if ok {
			return p, line, nil
		}
		<-p.exited
		return nil, nil, fmt.Errorf("soldev: localnet exited before printing its manifest: %v%s", p.waitErr, p.logTail())
	case <-p.exited:
		return nil, nil, fmt.Errorf("soldev: localnet exited before printing its manifest: %v%s", p.waitErr, p.logTail())
	case <-ctx.Done():
		_ = p.close()
		return nil, nil, fmt.Errorf("soldev: waiting for the localnet manifest: %w%s", ctx.Err(), p.logTail())
	}
}

// localnetEnv drops LOCALNET_* variables so flags alone configure the server.
func localnetEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "LOCALNET_") {
			out = append(out, kv)
		}
	}
	return out
}

// close stops the process group: SIGTERM, then SIGKILL after a grace period.
func (p *process) close() error {
	p.closeOnce.Do(func() {
		_ = p.stdin.Close()
		pgid := p.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(stopGrace):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.exited
			p.closeErr = fmt.Errorf("soldev: localnet did not stop within %s of SIGTERM; killed", stopGrace)
			return
		}
		var exitErr *exec.ExitError
		if p.waitErr != nil && !errors.As(p.waitErr, &exitErr) {
			p.closeErr = fmt.Errorf("soldev: wait for localnet: %w", p.waitErr)
		}
	})
	return p.closeErr
}

func (p *process) logTail() string {
	s := strings.TrimSpace(p.log.String())
	if s == "" {
		return ""
	}
	return "\nlocalnet stderr:\n" + s
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
