// Package nsutil enters Linux namespaces safely: work that must run inside a target's
// network namespace runs on a locked OS thread that is switched in and back, and a
// thread that cannot be switched back is never returned to the Go scheduler. It also
// finds a network namespace again by its inode (OpenByInode), which is how journal
// recovery reaches the namespace an object was created in.
package nsutil
