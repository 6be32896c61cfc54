package config

import (
	"math"
	"slices"
	"strconv"
	"time"
)

// TrackFile is a track_file block (vrrp_track_file is its deprecated
// synonym): a file holding a number that VRRP instances, sync groups and
// FILE_CHECKs follow. keepalived.conf(5) "Track files".
type TrackFile struct {
	// Pos is where the block starts.
	Pos Position `json:"pos"`
	// Name is the block's name, used by track_file lines and FILE_CHECK.
	Name string `json:"name"`
	// File is the path of the tracked file.
	File string `json:"file"`
	// Weight multiplies the value read (default 1); 0 means non-zero is a failure.
	Weight int `json:"weight"`
	// Reverse negates the weight.
	Reverse bool `json:"reverse,omitempty"`
	// InitFile is init_file: write InitValue at startup when the file does
	// not exist, or always with InitOverwrite.
	InitFile      bool `json:"init_file,omitempty"`
	InitValue     int  `json:"init_value,omitempty"`
	InitOverwrite bool `json:"init_overwrite,omitempty"`
}

// SSLFiles is the top-level SSL block: the client certificate SSL_GET
// presents and the CA it verifies servers with (PEM file paths).
type SSLFiles struct {
	// Pos is where the block starts.
	Pos Position `json:"pos"`
	// CA is ca: the CA bundle; when set, servers are verified against it.
	CA string `json:"ca,omitempty"`
	// Certificate is certificate: the client certificate.
	Certificate string `json:"certificate,omitempty"`
	// Key is key: the client key (default: in Certificate's file).
	Key string `json:"key,omitempty"`
	// Password is password: decrypts an encrypted key.
	Password string `json:"-"`
}

// trackFileBlock parses "track_file NAME { file PATH; weight N [reverse];
// init_file [VALUE] [overwrite] }".
func (p *parser) trackFileBlock(b *node, name string) TrackFile {
	tf := TrackFile{Pos: p.pos(b.key.pos), Name: name, Weight: 1}
	for _, n := range b.children {
		switch n.key.text {
		case "file":
			p.str(n, &tf.File)
		case "weight":
			if len(n.args) == 0 {
				p.errAt(afterKey(n), "weight needs a value")
				continue
			}
			if v, ok := p.intTok("track_file weight", n.args[0], -math.MaxInt32, math.MaxInt32); ok {
				tf.Weight = v
			}
			if len(n.args) > 1 {
				if n.args[1].text == "reverse" {
					tf.Reverse = true
				} else {
					p.warnAt(n.args[1].pos, "track_file weight: expected \"weight N [reverse]\"; %q ignored", n.args[1].text)
				}
			}
		case "init_file":
			if !p.valueOnly(n) {
				continue
			}
			tf.InitFile = true
			for _, a := range n.args {
				if a.text == "overwrite" {
					tf.InitOverwrite = true
					continue
				}
				v, err := strconv.Atoi(a.text)
				if err != nil || v < math.MinInt32 || v > math.MaxInt32 {
					p.errAt(a.pos, "init_file: %q is neither a whole number nor overwrite", a.text)
					continue
				}
				tf.InitValue = v
			}
		default:
			p.unknown(n, "track_file", "track_file")
		}
	}
	if tf.File == "" {
		p.errAt(b.key.pos, "track_file %s has no file", name)
	}
	return tf
}

// sslBlock parses the top-level "SSL { ca; certificate; key; password }".
func (p *parser) sslBlock(b *node, s *SSLFiles) {
	s.Pos = p.pos(b.key.pos)
	for _, n := range b.children {
		switch n.key.text {
		case "ca":
			p.str(n, &s.CA)
		case "certificate":
			p.str(n, &s.Certificate)
		case "key":
			p.str(n, &s.Key)
		case "password":
			p.str(n, &s.Password)
		default:
			p.unknown(n, "SSL", "SSL")
		}
	}
	if s.Key != "" && s.Certificate == "" {
		p.errAt(b.key.pos, "SSL has a key but no certificate")
	}
}

// trackLines parses a vrrp_instance's or vrrp_sync_group's
// "track_script|track_file|track_process { NAME [weight N [reverse]] }"
// (usage is the line's shape for errors; noreverse allows track_script's
// "noreverse").
func (p *parser) trackLines(n *node, usage string, noreverse bool) ([]TrackScript, []token) {
	if !p.needBlock(n) {
		return nil, nil
	}
	var out []TrackScript
	var names []token
	for _, c := range n.children {
		if c.hasBlock {
			p.errAt(c.open, "a block is not allowed inside %s", n.key.text)
			continue
		}
		ts := TrackScript{Name: c.key.text}
		ts.Weight, ts.WeightSet, ts.Reverse = p.trackWeight(n.key.text, usage, c.args, noreverse)
		out = append(out, ts)
		names = append(names, c.key)
	}
	return out, names
}

// keepKnownTrackFiles drops (with keepalived's warning) track_file lines
// naming no track_file block.
func (p *parser) keepKnownTrackFiles(cfg *Config, refs []TrackScript, toks []token) []TrackScript {
	names := make([]string, len(cfg.TrackFiles))
	for i, tf := range cfg.TrackFiles {
		names[i] = tf.Name
	}
	kept := refs[:0]
	for k, r := range refs {
		found := false
		for _, n := range names {
			found = found || n == r.Name
		}
		if !found {
			p.unknownRef(toks[k], "track_file", "track_file block", names)
			continue
		}
		kept = append(kept, r)
	}
	return kept
}

// warnSyncGroupWeights says where keepalived ignores tracker weights: an
// instance in a vrrp_sync_group without sync_group_tracking_weight tracks
// every interface, script and file with weight 0 (vrrp.c: "ignoring weight
// of tracked interface … due to SYNC group"), so a failure is a FAULT.
func (p *parser) warnSyncGroupWeights(cfg *Config) {
	scriptWeight := map[string]int{}
	for _, s := range cfg.Scripts {
		scriptWeight[s.Name] = s.Weight
	}
	fileWeight := map[string]int{}
	for _, f := range cfg.TrackFiles {
		fileWeight[f.Name] = f.Weight
	}
	procWeight := map[string]int{}
	for _, tp := range cfg.TrackProcesses {
		procWeight[tp.Name] = tp.Weight
	}
	groups := map[string]*VRRPSyncGroup{}
	for i := range cfg.SyncGroups {
		groups[cfg.SyncGroups[i].Name] = &cfg.SyncGroups[i]
	}
	for _, in := range cfg.Instances {
		g := groups[in.SyncGroup]
		if g == nil || g.TrackingWeight {
			continue
		}
		weighted := false
		for _, t := range append(slices.Clone(in.TrackInterfaces), g.TrackInterfaces...) {
			weighted = weighted || t.Weight != 0
		}
		for _, t := range append(slices.Clone(in.TrackScripts), g.TrackScripts...) {
			weighted = weighted || (t.WeightSet && t.Weight != 0) || (!t.WeightSet && scriptWeight[t.Name] != 0)
		}
		for _, t := range append(slices.Clone(in.TrackFiles), g.TrackFiles...) {
			weighted = weighted || (t.WeightSet && t.Weight != 0) || (!t.WeightSet && fileWeight[t.Name] != 0)
		}
		for _, t := range append(slices.Clone(in.TrackProcesses), g.TrackProcesses...) {
			weighted = weighted || (t.WeightSet && t.Weight != 0) || (!t.WeightSet && procWeight[t.Name] != 0)
		}
		if weighted {
			p.warnAt(in.Pos, "vrrp_instance %s is in vrrp_sync_group %s without sync_group_tracking_weight: the weights of its tracked interfaces, scripts, files and processes are ignored (a failure means FAULT), as keepalived does", in.Name, g.Name)
		}
	}
}

// TrackProcess is a vrrp_track_process block: keepalived.conf(5) "VRRP
// track processes".
type TrackProcess struct {
	// Pos is where the block starts.
	Pos Position `json:"pos"`
	// Name is the block's name, used by track_process lines.
	Name string `json:"name"`
	// Process is the process name, or the command with Params.
	Process string `json:"process"`
	// Params are the command's arguments to match.
	Params []string `json:"params,omitempty"`
	// ParamMatch is param_match: "" (exact), "partial" or "initial".
	ParamMatch string `json:"param_match,omitempty"`
	// FullCommand is full_command: match the command line.
	FullCommand bool `json:"full_command,omitempty"`
	// Weight (default 1) and Reverse are the block's weight line.
	Weight  int  `json:"weight"`
	Reverse bool `json:"reverse,omitempty"`
	// Quorum (default 1) and QuorumMax (default -1: unlimited).
	Quorum    int `json:"quorum"`
	QuorumMax int `json:"quorum_max"`
	// ForkDelay and TerminateDelay (delay sets both).
	ForkDelay      time.Duration `json:"fork_delay,omitempty"`
	TerminateDelay time.Duration `json:"terminate_delay,omitempty"`
}

// trackProcessBlock parses "vrrp_track_process NAME { … }".
func (p *parser) trackProcessBlock(b *node, name string) TrackProcess {
	tp := TrackProcess{Pos: p.pos(b.key.pos), Name: name, Weight: 1, Quorum: 1, QuorumMax: -1}
	for _, n := range b.children {
		switch n.key.text {
		case "process":
			if !p.valueOnly(n) {
				continue
			}
			if len(n.args) == 0 {
				p.errAt(afterKey(n), "process needs a process name")
				continue
			}
			tp.Process = n.args[0].text
			tp.Params = nil
			for _, a := range n.args[1:] {
				tp.Params = append(tp.Params, a.text)
			}
		case "param_match":
			if t, ok := p.one(n); ok {
				if t.text != "partial" && t.text != "initial" {
					p.errAt(t.pos, "param_match %q: must be partial or initial", t.text)
					continue
				}
				tp.ParamMatch = t.text
			}
		case "weight":
			if len(n.args) == 0 {
				p.errAt(afterKey(n), "weight needs a value")
				continue
			}
			if v, ok := p.intTok("vrrp_track_process weight", n.args[0], -254, 254); ok {
				tp.Weight = v
			}
			if len(n.args) > 1 {
				if n.args[1].text == "reverse" {
					tp.Reverse = true
				} else {
					p.warnAt(n.args[1].pos, "vrrp_track_process weight: expected \"weight N [reverse]\"; %q ignored", n.args[1].text)
				}
			}
		case "quorum":
			p.intv(n, 0, math.MaxInt32, &tp.Quorum)
		case "quorum_max":
			p.intv(n, 0, math.MaxInt32, &tp.QuorumMax)
		case "fork_delay":
			p.dur(n, 0, time.Hour, &tp.ForkDelay)
		case "terminate_delay":
			p.dur(n, 0, time.Hour, &tp.TerminateDelay)
		case "delay":
			if p.dur(n, 0, time.Hour, &tp.ForkDelay) {
				tp.TerminateDelay = tp.ForkDelay
			}
		case "full_command":
			p.flag(n, &tp.FullCommand)
		default:
			p.unknown(n, "vrrp_track_process", "vrrp_track_process")
		}
	}
	if tp.Process == "" {
		p.errAt(b.key.pos, "vrrp_track_process %s has no process", name)
	}
	if tp.QuorumMax >= 0 && tp.QuorumMax < tp.Quorum {
		p.errAt(b.key.pos, "vrrp_track_process %s: quorum_max %d is below quorum %d", name, tp.QuorumMax, tp.Quorum)
	}
	return tp
}

// keepKnownTrackProcesses drops (with keepalived's warning) track_process
// lines naming no vrrp_track_process block.
func (p *parser) keepKnownTrackProcesses(cfg *Config, refs []TrackScript, toks []token) []TrackScript {
	names := make([]string, len(cfg.TrackProcesses))
	for i, tp := range cfg.TrackProcesses {
		names[i] = tp.Name
	}
	kept := refs[:0]
	for k, r := range refs {
		if !slices.Contains(names, r.Name) {
			p.unknownRef(toks[k], "track_process", "vrrp_track_process", names)
			continue
		}
		kept = append(kept, r)
	}
	return kept
}
