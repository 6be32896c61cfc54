package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/drlb/drlb/daemon/api"
	"github.com/drlb/drlb/daemon/config"
)

// DumpKind is a dump keepalived writes on a signal.
type DumpKind int

// Dump kinds, with keepalived's signals (cmd/drlb maps them).
const (
	// DumpData is SIGUSR1: keepalived.data, the daemon's state as text.
	DumpData DumpKind = iota + 1
	// DumpStats is SIGUSR2: keepalived.stats, VRRP counters per instance.
	DumpStats
	// DumpJSON is SIGRTMIN+2: keepalived.json, VRRP instances as JSON.
	DumpJSON
)

// String names the dump as the log does.
func (k DumpKind) String() string {
	switch k {
	case DumpData:
		return "data"
	case DumpStats:
		return "stats"
	case DumpJSON:
		return "json"
	}
	return fmt.Sprintf("DumpKind(%d)", int(k))
}

// tmpDir is keepalived's directory for dump files: $TMPDIR when it is an
// absolute path, else /tmp.
func tmpDir() string {
	if d := os.Getenv("TMPDIR"); strings.HasPrefix(d, "/") {
		return d
	}
	return "/tmp"
}

// DumpPath is where a dump of kind goes for cfg: global_defs
// state_file_location, stats_file_location or json_file_location, else
// keepalived's default name in tmpDir, with data_use_instance's suffix
// (net_namespace and the configuration id given with -i).
func DumpPath(cfg *config.Config, kind DumpKind, configID string) string {
	h := cfg.Global.Housekeeping
	loc, def := h.StateFile, config.DefaultStateFile
	switch kind {
	case DumpStats:
		loc, def = h.StatsFile, config.DefaultStatsFile
	case DumpJSON:
		loc, def = h.JSONFile, config.DefaultJSONFile
	}
	return h.DumpFile(loc, def, tmpDir(), cfg.NetNamespace, configID)
}

// serveDumps writes a dump for every request on d.opts.Dump until ctx
// ends. A dump is built from a status copy (the loop is not held) and
// written to a temporary file renamed into place, so a reader never sees
// half a file.
func (d *Daemon) serveDumps(ctx context.Context) {
	if d.opts.Dump == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case kind := <-d.opts.Dump:
			st := d.Status(ctx)
			v, ok := d.view(ctx, false)
			if !ok {
				return
			}
			path := DumpPath(v.cfg, kind, d.opts.ConfigID)
			if err := writeDump(path, kind, st, v.cfg.Global.Housekeeping.JSONVersion); err != nil {
				d.log.Warn("Dump not written", "dump", kind.String(), "error", err)
				continue
			}
			d.log.Info("Dump written", "dump", kind.String(), "file", path)
		}
	}
}

// writeDump writes st as kind to path (mode 0666 less the umask, as
// keepalived's fopen_safe), through a temporary file in the same directory.
func writeDump(path string, kind DumpKind, st *api.Status, jsonVersion int) error {
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	create := func() (*os.File, error) {
		return os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_EXCL, 0o666)
	}
	f, err := create()
	if errors.Is(err, fs.ErrExist) {
		// A predecessor with our PID died while dumping (PID 1 in a
		// container): unlink what it left (a link is removed, not
		// followed) and create afresh, exclusively.
		if err = os.Remove(tmp); err == nil {
			f, err = create()
		}
	}
	if err != nil {
		return fmt.Errorf("dump %s: %w", path, err)
	}
	switch kind {
	case DumpData:
		fmt.Fprintf(f, "------< drlb %s state, %s >------\n", st.Version, time.Now().Format(time.RFC3339))
		WriteStatus(f, st, time.Now())
	case DumpStats:
		writeStats(f, st)
	case DumpJSON:
		err = writeKeepalivedJSON(f, st, jsonVersion)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("dump %s: %w", path, err)
	}
	return nil
}

// keepalivedStats are keepalived's stats lines (vrrp_print_stats) drlb
// counts, with the drop reason each one counts (zero when drlb has none).
var keepalivedStats = []struct{ indent, label, drop string }{
	{"  ", "Packet Errors:", ""},
	{"    ", "Length", "bad_length"},
	{"    ", "TTL", "bad_ttl"},
	{"    ", "Invalid Type", "bad_type"},
	{"    ", "Advertisement Interval", "advert_interval_mismatch"},
	{"    ", "Address List", "address_list_mismatch"},
	{"  ", "Authentication Errors:", ""},
	{"    ", "Invalid Type", "auth_type_mismatch"},
	{"    ", "Failure", "auth_failure"},
	{"  ", "Authentication Extension Errors:", ""},
	{"    ", "Missing", "hmac_missing"},
	{"    ", "Malformed", "hmac_malformed"},
	{"    ", "Unknown Key", "hmac_unknown_key"},
	{"    ", "Invalid HMAC", "hmac_invalid"},
	{"    ", "Stale", "hmac_stale"},
	{"    ", "Replay", "hmac_replay"},
}

// writeStats writes keepalived.stats in keepalived's layout for the
// counters drlb keeps (it has no separate became/released master and
// priority-zero counts in its status: "Transitions" stands for them).
func writeStats(w io.Writer, st *api.Status) {
	for _, in := range st.Instances {
		fmt.Fprintf(w, "VRRP Instance: %s\n", in.Name)
		fmt.Fprintf(w, "  Advertisements:\n    Received: %d\n    Sent: %d\n", in.AdvertsReceived, in.AdvertsSent)
		fmt.Fprintf(w, "  Transitions: %d\n", in.Transitions)
		for _, s := range keepalivedStats {
			if s.drop == "" {
				fmt.Fprintf(w, "%s%s\n", s.indent, s.label)
				continue
			}
			fmt.Fprintf(w, "%s%s: %d\n", s.indent, s.label, in.Drops[s.drop])
		}
	}
}

// jsonInstance is one element of keepalived.json: keepalived's "data" and
// "stats" objects with the members drlb has, under keepalived's names.
type jsonInstance struct {
	Data struct {
		IName             string   `json:"iname"`
		IfpIfname         string   `json:"ifp_ifname"`
		VRID              int      `json:"vrid"`
		Version           int      `json:"version"`
		BasePriority      int      `json:"base_priority"`
		EffectivePriority int      `json:"effective_priority"`
		State             int      `json:"state"`
		StateName         string   `json:"state_name"`
		MasterAddr        string   `json:"master_addr,omitempty"`
		VIPs              []string `json:"vips"`
		LastTransition    float64  `json:"last_transition"`
		SyncGroup         string   `json:"sync_group,omitempty"`
	} `json:"data"`
	Stats map[string]uint64 `json:"stats"`
}

// keepalivedState is keepalived's numeric state (vrrp.h VRRP_STATE_*).
func keepalivedState(s string) int {
	switch s {
	case "BACKUP":
		return 1
	case "MASTER":
		return 2
	case "FAULT":
		return 3
	case "STOP":
		return 97 // VRRP_STATE_STOP
	}
	return 0 // INIT
}

// writeKeepalivedJSON writes keepalived.json: an array of instances (json_version 1)
// or {"vrrp": [...]} (json_version 2).
func writeKeepalivedJSON(w io.Writer, st *api.Status, version int) error {
	out := make([]jsonInstance, 0, len(st.Instances))
	for _, in := range st.Instances {
		var j jsonInstance
		j.Data.IName, j.Data.IfpIfname, j.Data.VRID, j.Data.Version = in.Name, in.Interface, in.VRID, in.Version
		j.Data.BasePriority, j.Data.EffectivePriority = in.Priority, in.EffectivePriority
		j.Data.State, j.Data.StateName, j.Data.MasterAddr = keepalivedState(in.State), in.State, in.MasterAddr
		j.Data.VIPs = slices.Clone(in.VIPs)
		if !in.Since.IsZero() {
			j.Data.LastTransition = float64(in.Since.UnixMicro()) / 1e6
		}
		j.Data.SyncGroup = in.Group
		j.Stats = map[string]uint64{"advert_rcvd": in.AdvertsReceived, "advert_sent": in.AdvertsSent}
		for _, s := range keepalivedStats {
			if s.drop != "" {
				j.Stats[jsonStatName[s.drop]] = in.Drops[s.drop]
			}
		}
		out = append(out, j)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if version == 2 {
		return enc.Encode(struct {
			VRRP []jsonInstance `json:"vrrp"`
		}{out})
	}
	return enc.Encode(out)
}

// jsonStatName is keepalived's JSON name for a drop reason's counter.
var jsonStatName = map[string]string{
	"bad_length": "packet_len_err", "bad_ttl": "ip_ttl_err", "bad_type": "invalid_type_rcvd",
	"advert_interval_mismatch": "advert_interval_err", "address_list_mismatch": "addr_list_err",
	"auth_type_mismatch": "authtype_mismatch", "auth_failure": "auth_failure",
	"hmac_missing": "auth_ext_missing", "hmac_malformed": "auth_ext_malformed", "hmac_unknown_key": "auth_ext_unknown_key",
	"hmac_invalid": "auth_ext_invalid_hmac", "hmac_stale": "auth_ext_stale", "hmac_replay": "auth_ext_replay",
}
