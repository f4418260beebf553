package main

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// Exit codes: what scripts can rely on.
const (
	exitOK       = 0
	exitError    = 1 // anything that went wrong
	exitUsage    = 2 // the command line was wrong
	exitVerify   = 3 // bytes did not match their signed digests
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
		fmt.Fprintln(os.Stderr, "Run 'odi --help' for usage.")
	}
	return code
}

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
	}
	return exitError
}
