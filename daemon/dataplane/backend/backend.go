// Package backend opens a data plane by kind: "ipvs", "nft", or "auto"
// (IPVS when the kernel has the "IPVS" generic-netlink family, nftables
// otherwise).
package backend

import (
	"fmt"

	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/daemon/dataplane/ipvs"
	"github.com/drlb/drlb/daemon/dataplane/nft"
)

// Resolve turns KindAuto into KindIPVS or KindNFT by probing the kernel in
// opts' namespace; other kinds are returned as they are.
func Resolve(kind dataplane.Kind, opts dataplane.Options) (dataplane.Kind, error) {
	switch kind {
	case dataplane.KindIPVS, dataplane.KindNFT:
		return kind, nil
	case dataplane.KindAuto, "":
		if ipvs.Available(opts) == nil {
			return dataplane.KindIPVS, nil
		}
		if err := nft.Available(opts); err != nil {
			return "", fmt.Errorf("dataplane: auto: no IPVS in this kernel and %w", err)
		}
		return dataplane.KindNFT, nil
	}
	return "", fmt.Errorf("dataplane: unknown data plane %q (want auto, ipvs or nft)", kind)
}

// New opens the data plane of the given kind in opts.NetNSPath.
func New(kind dataplane.Kind, opts dataplane.Options) (dataplane.Dataplane, error) {
	k, err := Resolve(kind, opts)
	if err != nil {
		return nil, err
	}
	switch k {
	case dataplane.KindIPVS:
		b, err := ipvs.New(opts)
		if err != nil {
			return nil, fmt.Errorf("dataplane: %w", err)
		}
		return b, nil
	default:
		b, err := nft.New(opts)
		if err != nil {
			return nil, fmt.Errorf("dataplane: %w", err)
		}
		return b, nil
	}
}
