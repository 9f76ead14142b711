package main

import (
	"context"
	"os"
	osexec "os/exec"
)

func main() {
	_ = osexec.Command("ip", "link").Run()
	_ = osexec.CommandContext(context.Background(), "nft", "list", "tables").Run()
	_ = osexec.Command(os.Args[0]).Run()
}
