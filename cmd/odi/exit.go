package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/seeder"
)

// Exit codes: what scripts can rely on.
const (
	exitOK     = 0
	exitError  = 1 // anything that went wrong
	exitUsage  = 2 // the command line was wrong
	exitVerify = 3 // bytes did not match their signed digests
	// exitRefused: every directory refused the relay for a reason a restart cannot
	// change (its public URL, its key), so that a service manager stops restarting it.
	exitRefused  = 4
	exitCanceled = 130
)

// exitErr attaches an exit code to an error.
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitErr{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func verifyError(err error) error { return &exitErr{code: exitVerify, err: err} }

// exitCode prints err (if any) and returns the process exit code it means.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(os.Stderr, "odi:", err)
	code := codeOf(err)
	if code == exitUsage {
		fmt.Fprintf(os.Stderr, "Run '%s --help' for usage.\n", helpPath(err))
	}
	return code
}

// usageHelp names the command a usage error happened in, whose help it points at.
type usageHelp struct {
	err  error
	path string // the command's path: "odi admin relays approve"
}

func (e *usageHelp) Error() string { return e.err.Error() }
func (e *usageHelp) Unwrap() error { return e.err }

// helpPath is the command whose help a usage error points at: the one it happened in,
// else odi's own.
func helpPath(err error) string {
	var h *usageHelp
	if errors.As(err, &h) {
		return h.path
	}
	return "odi"
}

// explain adds to the error of cmd what a user needs to act on it: which help to read
// after a usage error, and where the directory's URL comes from when the URL reached no
// directory. Only the client commands (publish, fetch, admin) return the apiclient errors
// that the hint is for: a relay retries its directories and logs why.
func explain(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	var unreachable *apiclient.UnreachableError
	var foreign *apiclient.NotDirectoryError
	switch {
	case errors.As(err, &unreachable):
		err = fmt.Errorf("%w (is the directory running at %s? %s)", err, unreachable.URL, directorySetting)
	case errors.As(err, &foreign):
		err = fmt.Errorf("%w (%s)", err, directorySetting)
	}
	if cmd != nil && codeOf(err) == exitUsage {
		err = &usageHelp{err: err, path: cmd.CommandPath()}
	}
	return err
}

// directorySetting tells where a client command's directory URL comes from (client.go).
const directorySetting = "set it with --directory or ODI_CLIENT_DIRECTORY"

// codeOf maps an error to its exit code.
func codeOf(err error) int {
	var e *exitErr
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &e):
		return e.code
	case errors.Is(err, context.Canceled): // Ctrl-C
		return exitCanceled
	case errors.Is(err, seeder.ErrRefused):
		return exitRefused
	}
	return exitError
}
