package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "kubectl-chaos: under construction")
	os.Exit(1)
}
