// Package nsutil enters Linux namespaces safely: work that must run inside a target's
// network namespace runs on a locked OS thread that is switched in and back, and a
// thread that cannot be switched back is never returned to the Go scheduler.
package nsutil
