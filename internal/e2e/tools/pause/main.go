// Command pause is the cluster's sandbox image: it sleeps until SIGINT or SIGTERM and
// exits 0 at once, so pod deletion never waits for a grace period.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	<-c
}
