//go:build tools

// Package deps pins the modules the project builds on, so go mod tidy keeps them
// while the packages that use them are being written.
package deps

import (
	_ "github.com/charmbracelet/lipgloss"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/google/go-containerregistry/pkg/v1"
	_ "github.com/google/nftables"
	_ "github.com/hanwen/go-fuse/v2/fs"
	_ "github.com/mdlayher/netlink"
	_ "github.com/spf13/cobra"
	_ "github.com/spf13/viper"
	_ "github.com/vishvananda/netlink"
	_ "github.com/vishvananda/netns"
	_ "golang.org/x/sys/unix"
	_ "k8s.io/cli-runtime/pkg/genericclioptions"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/client-go/kubernetes/fake"
	_ "k8s.io/client-go/tools/remotecommand"
	_ "k8s.io/client-go/tools/watch"
	_ "k8s.io/kubectl/pkg/cmd/util"
	_ "sigs.k8s.io/yaml"
)
