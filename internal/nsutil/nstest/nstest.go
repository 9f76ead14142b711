// Package nstest builds stand-ins for pod containers in root tests: a network namespace
// with a veth pair, a process inside it, and a cgroup named like a container ID so the
// /proc/*/cgroup scan finds it. Everything is removed in t.Cleanup.
package nstest
