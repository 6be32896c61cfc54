package backend

import (
	"strings"
	"testing"

	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/daemon/dataplane/internal/nstest"
	"github.com/drlb/drlb/daemon/dataplane/ipvs"
	"github.com/drlb/drlb/internal/testenv"
)

func TestResolveExplicitAndUnknown(t *testing.T) {
	for _, k := range []dataplane.Kind{dataplane.KindIPVS, dataplane.KindNFT} {
		got, err := Resolve(k, dataplane.Options{})
		if err != nil || got != k {
			t.Errorf("Resolve(%s) = %s, %v", k, got, err)
		}
	}
	if _, err := Resolve("bpf", dataplane.Options{}); err == nil || !strings.Contains(err.Error(), `unknown data plane "bpf"`) {
		t.Errorf("Resolve(bpf) err = %v", err)
	}
}

// TestAutoInNamespace checks that auto picks IPVS exactly when the IPVS
// generic-netlink family exists, and that the result opens.
func TestAutoInNamespace(t *testing.T) {
	testenv.Privileged(t, "nft")
	ns := nstest.New(t, "auto")
	opts := dataplane.Options{NetNSPath: ns.Path}
	want := dataplane.KindNFT
	if ipvs.Available(opts) == nil {
		want = dataplane.KindIPVS
	}
	dp, err := New(dataplane.KindAuto, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	if dp.Kind() != want {
		t.Errorf("auto chose %s, want %s", dp.Kind(), want)
	}
}
