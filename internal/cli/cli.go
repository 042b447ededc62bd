// Package cli is the shared entry point of the project's one-shot commands:
// parse flags, run until done or interrupted, exit with the usual codes
// (0 ok or -h, 1 failure, 2 bad usage).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Command is a command's Main: ParseFlags, then Run. One that is also an
// io.Closer is closed after Run, whatever Run returned.
type Command interface {
	ParseFlags(args []string) error
	Run(ctx context.Context) error
}

// Main runs m with os.Args and exits on failure; name prefixes errors.
func Main(name string, m Command) {
	if err := m.ParseFlags(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := m.Run(ctx)
	stop()
	if c, ok := m.(io.Closer); ok {
		_ = c.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
