package ipvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	cipvs "github.com/cloudflare/ipvs"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"

	"github.com/drlb/drlb/daemon/dataplane"
)

// PEClient sets and reads a service's persistence engine
// (IPVS_SVC_ATTR_PE_NAME, keepalived's persistence_engine), which
// cloudflare/ipvs does not carry. The back end uses it when its Client
// implements it (tests' fakes) or New opened one.
type PEClient interface {
	// ServicePEs returns the persistence engine of every service that has one.
	ServicePEs() (map[dataplane.ServiceKey]string, error)
	// SetService sets svc's attributes, as UpdateService does, and its
	// persistence engine pe ("" for none).
	SetService(svc cipvs.Service, pe string) error
}

// The IPVS generic-netlink service interface (linux/ip_vs.h); genlName and
// genlVersion are in housekeeping.go.
const (
	cmdSetService    = 2 // IPVS_CMD_SET_SERVICE
	cmdGetService    = 4 // IPVS_CMD_GET_SERVICE
	cmdAttrService   = 1 // IPVS_CMD_ATTR_SERVICE
	svcAttrAF        = 1
	svcAttrProtocol  = 2
	svcAttrAddr      = 3
	svcAttrPort      = 4
	svcAttrFWMark    = 5
	svcAttrSchedName = 6
	svcAttrFlags     = 7
	svcAttrTimeout   = 8
	svcAttrNetmask   = 9
	svcAttrPEName    = 11
)

// peConn is PEClient over its own generic-netlink socket, bound to the
// namespace it was opened in.
type peConn struct {
	c      *genetlink.Conn
	family uint16
}

// openPE dials generic netlink and resolves the IPVS family; call it in
// the namespace whose IPVS it should use.
func openPE() (*peConn, error) {
	c, err := genetlink.Dial(nil)
	if err != nil {
		return nil, fmt.Errorf("ipvs: persistence engines: dial generic netlink: %w", err)
	}
	f, err := c.GetFamily(genlName)
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("ipvs: persistence engines: family %s: %w", genlName, err)
	}
	return &peConn{c: c, family: f.ID}, nil
}

// Close closes the socket.
func (p *peConn) Close() error { return p.c.Close() }

// encodeService is svc's attributes as cloudflare/ipvs sends them for
// IPVS_CMD_SET_SERVICE (the kernel needs them all for an edit), plus the
// persistence engine: an edit without one removes it (ip_vs_edit_service).
func encodeService(svc cipvs.Service, pe string) ([]byte, error) {
	inner := netlink.NewAttributeEncoder()
	inner.Uint16(svcAttrAF, uint16(svc.Family))
	inner.String(svcAttrSchedName, svc.Scheduler)
	flags := make([]byte, 8)
	binary.NativeEndian.PutUint32(flags, uint32(svc.Flags))
	binary.NativeEndian.PutUint32(flags[4:], 0xffffffff) // the mask: every flag is set or cleared
	inner.Bytes(svcAttrFlags, flags)
	inner.Uint32(svcAttrTimeout, svc.Timeout)
	switch {
	case svc.Netmask.Is4():
		inner.Bytes(svcAttrNetmask, svc.Netmask.AsSlice())
	case svc.Netmask.Is6():
		b := make([]byte, 4)
		binary.NativeEndian.PutUint32(b, uint32(svc.Netmask.Bits())) // a prefix length, in host order as ipvsadm sends it
		inner.Bytes(svcAttrNetmask, b)
	}
	if svc.FWMark != 0 {
		inner.Uint32(svcAttrFWMark, svc.FWMark)
	} else {
		inner.Uint16(svcAttrProtocol, uint16(svc.Protocol))
		inner.Bytes(svcAttrAddr, svc.Address.AsSlice())
		port := make([]byte, 2)
		binary.BigEndian.PutUint16(port, svc.Port)
		inner.Bytes(svcAttrPort, port)
	}
	if pe != "" {
		inner.String(svcAttrPEName, pe)
	}
	body, err := inner.Encode()
	if err != nil {
		return nil, err
	}
	outer := netlink.NewAttributeEncoder()
	outer.Bytes(cmdAttrService, body)
	return outer.Encode()
}

// SetService implements PEClient.
func (p *peConn) SetService(svc cipvs.Service, pe string) error {
	data, err := encodeService(svc, pe)
	if err != nil {
		return fmt.Errorf("ipvs: encode service: %w", err)
	}
	msg := genetlink.Message{Header: genetlink.Header{Command: cmdSetService, Version: genlVersion}, Data: data}
	if _, err := p.c.Execute(msg, p.family, netlink.Request|netlink.Acknowledge); err != nil {
		return fmt.Errorf("ipvs: set service with persistence engine %q: %w", pe, err)
	}
	return nil
}

// ServicePEs implements PEClient.
func (p *peConn) ServicePEs() (map[dataplane.ServiceKey]string, error) {
	msg := genetlink.Message{Header: genetlink.Header{Command: cmdGetService, Version: genlVersion}}
	msgs, err := p.c.Execute(msg, p.family, netlink.Request|netlink.Dump)
	if err != nil {
		return nil, fmt.Errorf("ipvs: list services: %w", err)
	}
	out := map[dataplane.ServiceKey]string{}
	for _, m := range msgs {
		k, pe, err := decodeServicePE(m.Data)
		if err != nil {
			return nil, err
		}
		if pe != "" {
			out[k] = pe
		}
	}
	return out, nil
}

// errServiceAttrs reports a GET_SERVICE reply without a service.
var errServiceAttrs = errors.New("ipvs: service reply without IPVS_CMD_ATTR_SERVICE")

// decodeServicePE reads a GET_SERVICE reply's service key and persistence engine.
func decodeServicePE(b []byte) (dataplane.ServiceKey, string, error) {
	var k dataplane.ServiceKey
	var pe string
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return k, "", fmt.Errorf("ipvs: decode service: %w", err)
	}
	found := false
	for ad.Next() {
		if ad.Type() != cmdAttrService {
			continue
		}
		found = true
		ad.Nested(func(nad *netlink.AttributeDecoder) error {
			var af uint16
			var addr []byte
			for nad.Next() {
				switch nad.Type() {
				case svcAttrAF:
					af = nad.Uint16()
				case svcAttrProtocol:
					k.Protocol = dataplane.Protocol(nad.Uint16())
				case svcAttrAddr:
					addr = nad.Bytes()
				case svcAttrPort:
					if p := nad.Bytes(); len(p) == 2 {
						k.Port = binary.BigEndian.Uint16(p)
					}
				case svcAttrFWMark:
					k.FWMark = nad.Uint32()
				case svcAttrPEName:
					pe = nad.String()
				}
			}
			if af == uint16(cipvs.INET) && len(addr) >= 4 {
				addr = addr[:4]
			}
			if a, ok := netip.AddrFromSlice(addr); ok && k.FWMark == 0 {
				k.VIP = a
			}
			return nil
		})
	}
	if err := ad.Err(); err != nil {
		return k, "", fmt.Errorf("ipvs: decode service: %w", err)
	}
	if !found {
		return k, "", errServiceAttrs
	}
	if k.FWMark != 0 {
		k = dataplane.ServiceKey{FWMark: k.FWMark}
	}
	return k, pe, nil
}
