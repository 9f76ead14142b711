//go:build !linux

package agent

// dropExecPages is Linux-only (the agent runs on Linux only).
func dropExecPages() int { return 0 }
