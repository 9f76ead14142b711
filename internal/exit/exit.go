// Package exit maps errors to the process exit codes documented in docs/exit-codes.md.
// Only cmd/kubectl-chaos calls os.Exit, with Code(err).
package exit

import (
	"errors"
	"fmt"
)

// The exit codes of kubectl-chaos.
const (
	OK          = 0   // success
	Usage       = 1   // usage or validation error: nothing was done
	API         = 2   // cluster/API error (unreachable, RBAC, scheduling, image)
	Fault       = 3   // the fault could not be applied or recovered on some target
	Hypothesis  = 4   // kubectl chaos run: a probe failed (the hypothesis did not hold) or a step failed
	Interrupted = 130 // interrupted (Ctrl-C/SIGTERM) after a clean recovery
)

// Error carries an exit code with its cause.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}
func (e *Error) Unwrap() error { return e.Err }

func wrap(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// UsageError marks err as a usage/validation error (exit 1).
func UsageError(err error) error { return wrap(Usage, err) }

// Usagef formats a usage/validation error (exit 1).
func Usagef(format string, a ...any) error { return &Error{Code: Usage, Err: fmt.Errorf(format, a...)} }

// APIError marks err as a cluster/API error (exit 2).
func APIError(err error) error { return wrap(API, err) }

// FaultError marks err as a failure to apply or recover a fault (exit 3).
func FaultError(err error) error { return wrap(Fault, err) }

// HypothesisError: the scenario ran and was recovered, but a probe or a step failed.
func HypothesisError(err error) error { return wrap(Hypothesis, err) }

// InterruptedError marks a clean stop after Ctrl-C/SIGTERM (exit 130).
func InterruptedError(err error) error {
	if err == nil {
		err = errors.New("interrupted")
	}
	return &Error{Code: Interrupted, Err: err}
}

// AsAPIError keeps an error's exit code if it has one, else marks it as a cluster error
// (exit 2) saying what was being done.
func AsAPIError(what string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return APIError(fmt.Errorf("%s: %w", what, err))
}

// Code returns the exit code for err: 0 for nil, the code of the outermost *Error in
// the chain, else 1 for anything else that reached main (treated as usage: cobra flag
// errors arrive unwrapped).
func Code(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Usage
}
