package ipvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/daemon/dataplane"
)

// IPVS generic-netlink commands and attributes that cloudflare/ipvs does
// not wrap (linux/ip_vs.h).
const (
	genlName    = "IPVS"
	genlVersion = 1

	cmdNewDaemon = 9
	cmdDelDaemon = 10
	cmdGetDaemon = 11
	cmdSetConfig = 12
	cmdFlush     = 17

	cmdAttrDaemon        = 3
	cmdAttrTimeoutTCP    = 4
	cmdAttrTimeoutTCPFin = 5
	cmdAttrTimeoutUDP    = 6

	daemonAttrState      = 1 // u32
	daemonAttrMcastIfn   = 2 // string
	daemonAttrSyncID     = 3 // u32
	daemonAttrSyncMaxLen = 4 // u16
	daemonAttrMcastGroup = 5 // in_addr (network order)
	daemonAttrMcastGrp6  = 6 // in6_addr
	daemonAttrMcastPort  = 7 // be16
	daemonAttrMcastTTL   = 8 // u8
)

// SyncState is the role of an IPVS connection sync daemon.
type SyncState uint32

// Sync daemon roles (IP_VS_STATE_MASTER, IP_VS_STATE_BACKUP).
const (
	// SyncMaster sends the director's connection entries.
	SyncMaster SyncState = 1
	// SyncBackup receives a master's entries into the local table.
	SyncBackup SyncState = 2
)

// String names the role as ipvsadm does.
func (s SyncState) String() string {
	switch s {
	case SyncMaster:
		return "master"
	case SyncBackup:
		return "backup"
	}
	return fmt.Sprintf("SyncState(%d)", uint32(s))
}

// SyncDaemon is one kernel connection sync daemon (ipvsadm
// --start-daemon): zero optional fields take the kernel's defaults.
type SyncDaemon struct {
	// State is master or backup.
	State SyncState
	// Interface carries the sync messages.
	Interface string
	// SyncID is the sync id (0..255); master and backup must agree.
	SyncID uint32
	// MaxLen is the largest sync message (0: the interface's MTU).
	MaxLen uint16
	// Port is the UDP port (0: 8848).
	Port uint16
	// TTL of the multicast messages (0: 1).
	TTL uint8
	// Group is the multicast group (zero: 224.0.0.81).
	Group netip.Addr
}

// encodeDaemon is the IPVS_CMD_ATTR_DAEMON payload for d; stopping needs
// only the state.
func encodeDaemon(d SyncDaemon, stop bool) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	ae.Nested(cmdAttrDaemon, func(nae *netlink.AttributeEncoder) error {
		nae.Uint32(daemonAttrState, uint32(d.State))
		if stop {
			return nil
		}
		nae.String(daemonAttrMcastIfn, d.Interface)
		nae.Uint32(daemonAttrSyncID, d.SyncID)
		if d.MaxLen != 0 {
			nae.Uint16(daemonAttrSyncMaxLen, d.MaxLen)
		}
		if d.Port != 0 {
			nae.Bytes(daemonAttrMcastPort, binary.BigEndian.AppendUint16(nil, d.Port))
		}
		if d.TTL != 0 {
			nae.Uint8(daemonAttrMcastTTL, d.TTL)
		}
		switch {
		case d.Group.Is4():
			g := d.Group.As4()
			nae.Bytes(daemonAttrMcastGroup, g[:])
		case d.Group.Is6():
			g := d.Group.As16()
			nae.Bytes(daemonAttrMcastGrp6, g[:])
		}
		return nil
	})
	return ae.Encode()
}

// decodeDaemon reads one IPVS_CMD_ATTR_DAEMON nest (a GET_DAEMON answer).
func decodeDaemon(b []byte) (SyncDaemon, error) {
	var d SyncDaemon
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return d, err
	}
	for ad.Next() {
		if ad.Type() != cmdAttrDaemon {
			continue
		}
		ad.Nested(func(nad *netlink.AttributeDecoder) error {
			for nad.Next() {
				switch nad.Type() {
				case daemonAttrState:
					d.State = SyncState(nad.Uint32())
				case daemonAttrMcastIfn:
					d.Interface = nad.String()
				case daemonAttrSyncID:
					d.SyncID = nad.Uint32()
				case daemonAttrSyncMaxLen:
					d.MaxLen = nad.Uint16()
				case daemonAttrMcastPort:
					if v := nad.Bytes(); len(v) == 2 {
						d.Port = binary.BigEndian.Uint16(v)
					}
				case daemonAttrMcastTTL:
					d.TTL = nad.Uint8()
				case daemonAttrMcastGroup:
					if a, ok := netip.AddrFromSlice(nad.Bytes()); ok && !a.IsUnspecified() {
						d.Group = a
					}
				case daemonAttrMcastGrp6:
					if a, ok := netip.AddrFromSlice(nad.Bytes()); ok && !a.IsUnspecified() && !d.Group.IsValid() {
						d.Group = a
					}
				}
			}
			return nil
		})
	}
	return d, ad.Err()
}

// encodeTimeouts is the SET_CONFIG payload; the kernel leaves a timeout
// of 0 unchanged.
func encodeTimeouts(tcp, tcpFin, udp time.Duration) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	ae.Uint32(cmdAttrTimeoutTCP, uint32(tcp/time.Second))
	ae.Uint32(cmdAttrTimeoutTCPFin, uint32(tcpFin/time.Second))
	ae.Uint32(cmdAttrTimeoutUDP, uint32(udp/time.Second))
	return ae.Encode()
}

// Housekeeping speaks the IPVS commands keepalived uses besides services
// and destinations: connection timeouts (lvs_timeouts), flushing the whole
// table (lvs_flush, lvs_flush_on_stop) and the connection sync daemon
// (lvs_sync_daemon). It has its own netlink socket, so it may be used
// while the back end applies a table. Safe for one goroutine at a time.
type Housekeeping struct {
	c      *genetlink.Conn
	family genetlink.Family
}

// OpenHousekeeping opens the IPVS family in the namespace at netnsPath
// (the caller's when empty); the socket stays bound to it.
func OpenHousekeeping(netnsPath string) (*Housekeeping, error) {
	h := &Housekeeping{}
	err := dataplane.InNetNS(netnsPath, func() error {
		c, err := genetlink.Dial(nil)
		if err != nil {
			return err
		}
		f, err := c.GetFamily(genlName)
		if err != nil {
			_ = c.Close()
			return err
		}
		h.c, h.family = c, f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ipvs: open generic-netlink family IPVS: %w", err)
	}
	return h, nil
}

// Close closes the socket; the kernel's settings and daemons stay.
func (h *Housekeeping) Close() error {
	if err := h.c.Close(); err != nil {
		return fmt.Errorf("ipvs: close: %w", err)
	}
	return nil
}

func (h *Housekeeping) execute(cmd uint8, data []byte, flags netlink.HeaderFlags) ([]genetlink.Message, error) {
	return h.c.Execute(genetlink.Message{Header: genetlink.Header{Command: cmd, Version: genlVersion}, Data: data},
		h.family.ID, netlink.Request|flags)
}

// SetTimeouts sets IPVS's TCP, TCP FIN and UDP connection timeouts
// (whole seconds; 0 leaves one unchanged), as ipvsadm --set does.
func (h *Housekeeping) SetTimeouts(tcp, tcpFin, udp time.Duration) error {
	b, err := encodeTimeouts(tcp, tcpFin, udp)
	if err != nil {
		return fmt.Errorf("ipvs: set timeouts: %w", err)
	}
	if _, err := h.execute(cmdSetConfig, b, netlink.Acknowledge); err != nil {
		return fmt.Errorf("ipvs: set timeouts tcp %s tcpfin %s udp %s: %w", tcp, tcpFin, udp, err)
	}
	return nil
}

// FlushAll removes every IPVS service of the namespace, also those other
// programs created (ipvsadm -C; keepalived's lvs_flush).
func (h *Housekeeping) FlushAll() error {
	if _, err := h.execute(cmdFlush, nil, netlink.Acknowledge); err != nil {
		return fmt.Errorf("ipvs: flush: %w", err)
	}
	return nil
}

// StartSyncDaemon starts a sync daemon in d.State. One master and one
// backup may run at once; starting one that runs is an error (EEXIST).
func (h *Housekeeping) StartSyncDaemon(d SyncDaemon) error {
	b, err := encodeDaemon(d, false)
	if err != nil {
		return fmt.Errorf("ipvs: start %s sync daemon: %w", d.State, err)
	}
	if _, err := h.execute(cmdNewDaemon, b, netlink.Acknowledge); err != nil {
		return fmt.Errorf("ipvs: start %s sync daemon on %s (syncid %d): %w", d.State, d.Interface, d.SyncID, err)
	}
	return nil
}

// StopSyncDaemon stops the sync daemon in state; stopping one that does
// not run is not an error.
func (h *Housekeeping) StopSyncDaemon(state SyncState) error {
	b, err := encodeDaemon(SyncDaemon{State: state}, true)
	if err != nil {
		return fmt.Errorf("ipvs: stop %s sync daemon: %w", state, err)
	}
	if _, err := h.execute(cmdDelDaemon, b, netlink.Acknowledge); err != nil {
		var oe *netlink.OpError
		if errors.As(err, &oe) && (errors.Is(oe.Err, errESRCH) || errors.Is(oe.Err, errENOENT)) {
			return nil
		}
		return fmt.Errorf("ipvs: stop %s sync daemon: %w", state, err)
	}
	return nil
}

// SyncDaemons lists the running sync daemons (ipvsadm -L --daemon).
func (h *Housekeeping) SyncDaemons() ([]SyncDaemon, error) {
	msgs, err := h.execute(cmdGetDaemon, nil, netlink.Dump)
	if err != nil {
		return nil, fmt.Errorf("ipvs: list sync daemons: %w", err)
	}
	var out []SyncDaemon
	for _, m := range msgs {
		d, err := decodeDaemon(m.Data)
		if err != nil {
			return nil, fmt.Errorf("ipvs: list sync daemons: %w", err)
		}
		if d.State != 0 {
			out = append(out, d)
		}
	}
	return out, nil
}

// The errors the kernel gives for stopping a daemon that does not run.
var (
	errESRCH  error = unix.ESRCH
	errENOENT error = unix.ENOENT
)
