package daemon

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/drlb/drlb/daemon/check"
	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/vrrp"
)

// parityIISpec fills spec for the checkers of "keepalived.conf parity II"
// (SMTP_CHECK, DNS_CHECK, UDP_CHECK, PING_CHECK, FILE_CHECK); false for
// other kinds.
func parityIISpec(c *config.Config, rs *config.RealServer, ck config.Checker, spec *check.Spec) bool {
	switch ck.Kind {
	case config.CheckSMTP:
		spec.Kind = check.KindSMTP
		spec.SMTP = check.SMTPSpec{HeloName: ck.HeloName}
	case config.CheckDNS:
		spec.Kind = check.KindDNS
		t, err := check.ParseDNSType(ck.DNSType)
		if err != nil {
			return false // the config refuses other types
		}
		spec.DNS = check.DNSSpec{Type: t, Name: ck.DNSName}
	case config.CheckUDP:
		spec.Kind = check.KindUDP
		spec.UDP = check.UDPSpec{Payload: ck.UDPPayload, RequireReply: ck.UDPRequireReply, Reply: ck.UDPReply,
			ReplyMask: ck.UDPReplyMask, MinReplyLength: ck.UDPMinReplyLength, MaxReplyLength: ck.UDPMaxReplyLength}
	case config.CheckPing:
		spec.Kind = check.KindPing
		spec.Addr = netip.AddrPortFrom(spec.Addr.Addr(), 0)
	case config.CheckFile:
		spec.Kind = check.KindFile
		for _, tf := range c.TrackFiles {
			if tf.Name != ck.TrackFile {
				continue
			}
			f := check.FileSpec{Path: tf.File, Weight: tf.Weight, Reverse: tf.Reverse, Dynamic: ck.FileDynamic, BaseWeight: rs.Weight}
			if ck.FileWeightSet {
				f.Weight, f.Reverse = ck.FileWeight, ck.FileReverse
			}
			spec.File = f
			return true
		}
		return false
	default:
		return false
	}
	return true
}

// withCheckerOptions adds what every checker may set (bind_if, fwmark,
// alpha with keepalived's inheritance checker → real_server →
// virtual_server) and HTTP_GET/SSL_GET's protocol, TLS and regex options.
func withCheckerOptions(c *config.Config, vs *config.VirtualServer, rs *config.RealServer, ck config.Checker, spec check.Spec) (check.Spec, error) {
	spec.BindIf, spec.FWMark = ck.BindIf, ck.FWMark
	if !ck.BindTo.IsValid() && ck.BindPort != 0 {
		spec.BindTo = netip.AddrPortFrom(netip.Addr{}, ck.BindPort) // the port alone, as keepalived
	}
	spec.LogAllFailures = c.Global.CheckerLogAllFailures
	if ck.LogAllFailures != nil {
		spec.LogAllFailures = *ck.LogAllFailures
	}
	if rs.Alpha != nil {
		spec.Alpha = *rs.Alpha
	}
	if ck.AlphaSet {
		spec.Alpha = ck.Alpha
	}
	if spec.Kind != check.KindHTTP && spec.Kind != check.KindSSL {
		return spec, nil
	}
	if ck.HTTPProtocol != "" {
		p, err := check.ParseHTTPProtocol(ck.HTTPProtocol)
		if err != nil {
			return spec, fmt.Errorf("%s:%d: %w", ck.Pos.File, ck.Pos.Line, err)
		}
		spec.HTTP.Protocol = p
	}
	spec.HTTP.EnableSNI = ck.EnableSNI || ck.SNIName != ""
	spec.HTTP.SNIName = ck.SNIName
	if c.SSL != nil && spec.Kind == check.KindSSL {
		spec.HTTP.ClientCert = check.TLSFiles{CA: c.SSL.CA, Certificate: c.SSL.Certificate, Key: c.SSL.Key, Password: c.SSL.Password}
	}
	for i, u := range ck.URLs {
		if i < len(spec.HTTP.URLs) {
			cu := &spec.HTTP.URLs[i]
			cu.Regex, cu.RegexNoMatch, cu.RegexMinOffset = u.Regex, u.RegexNoMatch, u.RegexMinOffset
			if u.Regex != "" && u.RegexFlags != "" {
				cu.Regex = "(?" + u.RegexFlags + ")" + u.Regex
			}
			if u.RegexMaxOffset != nil {
				cu.RegexMaxOffset, cu.RegexMaxOffsetSet = *u.RegexMaxOffset, true
			}
		}
	}
	return spec, nil
}

// withTrackFiles adds an instance's track_file and track_process lines and
// its sync group's (track_file, track_process, track_interface) to ic, and applies keepalived's sync group
// rule: unless the group sets sync_group_tracking_weight, every tracker of
// a member counts with weight 0 (a failure is a FAULT of the whole group).
func withTrackFiles(c *config.Config, in config.VRRPInstance, ic vrrp.InstanceConfig) vrrp.InstanceConfig {
	blocks := map[string]config.TrackFile{}
	for _, tf := range c.TrackFiles {
		blocks[tf.Name] = tf
	}
	add := func(refs []config.TrackScript) {
		for _, r := range refs {
			b, ok := blocks[r.Name]
			if !ok {
				continue // the config dropped it with a warning
			}
			t := vrrp.TrackFile{Name: b.Name, Path: b.File, Weight: b.Weight, Reverse: b.Reverse}
			if r.WeightSet {
				t.Weight, t.Reverse = r.Weight, r.Reverse
			}
			ic.TrackFiles = append(ic.TrackFiles, t)
		}
	}
	procs := map[string]config.TrackProcess{}
	for _, tp := range c.TrackProcesses {
		procs[tp.Name] = tp
	}
	addProcs := func(refs []config.TrackScript) {
		for _, r := range refs {
			b, ok := procs[r.Name]
			if !ok {
				continue // the config dropped it with a warning
			}
			t := vrrp.TrackProcess{Name: b.Name, Process: b.Process, Params: slices.Clone(b.Params), ParamMatch: b.ParamMatch,
				FullCommand: b.FullCommand, Quorum: b.Quorum, QuorumMax: b.QuorumMax, ForkDelay: b.ForkDelay,
				TerminateDelay: b.TerminateDelay, Weight: b.Weight, Reverse: b.Reverse}
			if r.WeightSet {
				t.Weight, t.Reverse = r.Weight, r.Reverse
			}
			ic.TrackProcesses = append(ic.TrackProcesses, t)
		}
	}
	add(in.TrackFiles)
	addProcs(in.TrackProcesses)
	for _, g := range c.SyncGroups {
		if !slices.Contains(g.Group, in.Name) {
			continue
		}
		add(g.TrackFiles)
		addProcs(g.TrackProcesses)
		ic.TrackInterfaces = appendTrackInterfaces(ic.TrackInterfaces, g.TrackInterfaces)
		if !g.TrackingWeight {
			ic.TrackInterfaces = slices.Clone(ic.TrackInterfaces)
			for i := range ic.TrackInterfaces {
				ic.TrackInterfaces[i].Weight = 0
			}
			for i := range ic.TrackScripts {
				ic.TrackScripts[i].Weight = 0
			}
			for i := range ic.TrackFiles {
				ic.TrackFiles[i].Weight = 0
			}
			for i := range ic.TrackProcesses {
				ic.TrackProcesses[i].Weight = 0
			}
		}
	}
	return ic
}

// appendTrackInterfaces appends the track_interface lines ts (an
// instance's or its sync group's) to dst as the VRRP engine's trackers.
func appendTrackInterfaces(dst []vrrp.TrackInterface, ts []config.TrackInterface) []vrrp.TrackInterface {
	for _, t := range ts {
		dst = append(dst, vrrp.TrackInterface{Name: t.Name, Weight: t.Weight, Reverse: t.Reverse})
	}
	return dst
}

// InitTrackFiles applies init_file of every track_file block, as keepalived
// does at start-up and on reload.
func InitTrackFiles(c *config.Config) error {
	for _, tf := range c.TrackFiles {
		if !tf.InitFile {
			continue
		}
		if err := vrrp.InitTrackFile(tf.File, tf.InitValue, tf.InitOverwrite); err != nil {
			return fmt.Errorf("%s:%d: track_file %s: %w", tf.Pos.File, tf.Pos.Line, tf.Name, err)
		}
	}
	return nil
}
