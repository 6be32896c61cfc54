package nsdo

import (
	"errors"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/internal/testenv"
)

func TestDoEntersAndRestores(t *testing.T) {
	testenv.Privileged(t)
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	// A namespace of our own: unshare on this locked thread, keep a handle, go back.
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	target, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	if err := netns.Set(orig); err != nil {
		t.Fatal(err)
	}
	runtime.UnlockOSThread()
	defer target.Close()
	defer orig.Close()

	var inside netns.NsHandle
	sentinel := errors.New("fn's error")
	err = DoHandle(target, func() error {
		inside, _ = netns.Get()
		return sentinel
	})
	if !errors.Is(err, sentinel) {
		t.Fatalf("DoHandle error = %v, want fn's error", err)
	}
	defer inside.Close()
	if !inside.Equal(target) {
		t.Fatal("fn did not run inside the target namespace")
	}
	// The calling goroutine's namespace is untouched.
	now, _ := netns.Get()
	defer now.Close()
	if !now.Equal(orig) {
		t.Fatal("caller's namespace changed")
	}
}

func TestDoEmptyPathRunsHere(t *testing.T) {
	ran := false
	if err := Do("", func() error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("Do(\"\") ran=%v err=%v", ran, err)
	}
}

func TestDoMissingNamespace(t *testing.T) {
	err := Do("/nonexistent/netns", func() error { return nil })
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Do(missing) = %v, want a not-exist error", err)
	}
}
