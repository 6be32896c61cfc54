package dataplane

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netns"

	"github.com/drlb/drlb/internal/testenv"
)

func TestInNetNSEntersAndRestores(t *testing.T) {
	testenv.Privileged(t)
	tmp, err := ns.TempNetNS()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tmp.Close() }()
	path := fmt.Sprintf("/proc/self/fd/%d", tmp.Fd())
	target, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = target.Close() }()
	before, err := netns.GetFromPath("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = before.Close() }()

	var inside netns.NsHandle
	sentinel := errors.New("fn's error")
	err = InNetNS(path, func() error {
		inside, _ = netns.Get()
		return sentinel
	})
	if !errors.Is(err, sentinel) {
		t.Fatalf("InNetNS error = %v, want fn's error unchanged", err)
	}
	defer func() { _ = inside.Close() }()
	if !inside.Equal(target) {
		t.Fatal("fn did not run inside the target namespace")
	}
	// The caller's thread never left its namespace.
	now, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = now.Close() }()
	if !now.Equal(before) {
		t.Fatal("the caller's namespace changed")
	}
}

func TestInNetNSEmptyPathRunsHere(t *testing.T) {
	ran := false
	if err := InNetNS("", func() error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("InNetNS(\"\") ran=%v err=%v", ran, err)
	}
}

func TestInNetNSMissingNamespace(t *testing.T) {
	ran := false
	err := InNetNS("/nonexistent/netns", func() error { ran = true; return nil })
	if err == nil || ran || !strings.Contains(err.Error(), "enter network namespace /nonexistent/netns") {
		t.Fatalf("InNetNS(missing) = %v (fn ran: %v), want an error naming the path and fn not run", err, ran)
	}
}
