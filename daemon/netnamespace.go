package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/drlb/drlb/daemon/config"
)

// NetNamespaceEnv is set in the environment of a drlb that re-executed
// itself inside its configuration's net_namespace, so that it does not
// do so again.
const NetNamespaceEnv = "DRLB_NET_NAMESPACE"

// NetNamespaceDir is where `ip netns add` names namespaces, and where
// keepalived looks up net_namespace NAME.
const NetNamespaceDir = "/run/netns"

// EnterNetNamespace makes the rest of this program run in the network
// namespace named by file's net_namespace, as keepalived runs there: it
// re-executes the program from a thread inside that namespace (a process
// cannot move all its threads; an exec'd process starts with the thread's
// namespace), with NetNamespaceEnv set, and does not return if that
// works. Without net_namespace, once inside, or when the file cannot be
// read (the caller's own load reports why), it returns nil and nothing
// changes. A namespace that does not exist is an error.
func EnterNetNamespace(file, configID string) error {
	if os.Getenv(NetNamespaceEnv) != "" {
		return nil
	}
	cfg, _, err := config.Load(file, config.Options{ConfigID: configID})
	if err != nil || cfg == nil || cfg.NetNamespace == "" {
		return nil
	}
	name := cfg.NetNamespace
	path := filepath.Join(NetNamespaceDir, name)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("net_namespace %s: %w", name, err)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("net_namespace %s: find this program: %w", name, err)
	}
	err = ns.WithNetNSPath(path, func(ns.NetNS) error {
		return syscall.Exec(self, os.Args, append(os.Environ(), NetNamespaceEnv+"="+name))
	})
	return errors.Join(fmt.Errorf("net_namespace %s: re-execute %s inside it", name, self), err)
}
