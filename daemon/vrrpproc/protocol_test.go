package vrrpproc

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/drlb/drlb/daemon/vrrp"
)

// fullConfig sets every kind of field vrrp.Config has: addresses,
// prefixes, durations, maps of keys, pointers, nested slices.
func fullConfig() vrrp.Config {
	return vrrp.Config{
		Instances: []vrrp.InstanceConfig{{
			Name: "VI_1", Interface: "eth1", VRID: 51, Version: vrrp.Version3, Priority: 200,
			AdvertInterval: 10 * time.Millisecond, WantMaster: true, PreemptDelay: 3 * time.Second,
			SourceIP:        netip.MustParseAddr("172.16.1.2"),
			UnicastPeers:    []netip.Addr{netip.MustParseAddr("172.16.1.3")},
			AuthHMAC:        &vrrp.HMACConfig{Keys: map[uint8][]byte{7: bytes.Repeat([]byte{1}, 32)}, ActiveKey: 7},
			VIPs:            []vrrp.VIP{{Prefix: netip.MustParsePrefix("172.16.1.1/24"), Label: "eth1:1", NoAccept: true}},
			ExcludedVIPs:    []vrrp.VIP{{Prefix: netip.MustParsePrefix("fd00:172:16:1::1/128")}},
			TrackInterfaces: []vrrp.TrackInterface{{Name: "eth2", Weight: -10, Reverse: true}},
			TrackScripts:    []vrrp.TrackScript{{Name: "chk", Script: "/bin/true", Interval: time.Second, Rise: 2, Fall: 3}},
			TrackFiles:      []vrrp.TrackFile{{Name: "f", Path: "/tmp/x", Weight: 5}},
			Notify:          vrrp.NotifyScripts{Master: "/bin/true master"},
			GARP:            vrrp.GARPSchedule{Repeat: 5, Delay: 5 * time.Second},
			Routes:          []vrrp.Route{{Dst: netip.MustParsePrefix("10.0.0.0/8"), Via: netip.MustParseAddr("172.16.1.254")}},
			AddressVMACs:    []vrrp.AddressVMAC{{Name: "vrrp6.51", Base: "eth2", V6: true}},
			Protocol: vrrp.ProtocolOptions{HigherPrioSendAdvert: true, DownTimerAdverts: 5, UnicastTTL: 10, RxBufSize: 1 << 20,
				PromoteSecondaries: true, TimerExpiredBackup: 254, NotifyMasterRxLowerPri: "/bin/true"},
		}},
		StartupDelay:    2 * time.Second,
		DelayAfterBoot:  time.Minute,
		LogUnknownVRIDs: true,
		SyncGroups:      []vrrp.SyncGroupConfig{{Name: "G", Instances: []string{"VI_1"}}},
		ScriptTimeout:   4 * time.Second,
		AcceptServices:  []vrrp.ServicePort{{Addr: netip.MustParseAddr("172.16.1.1"), Protocol: "tcp", Port: 80}},
		RecoveryHold:    30 * time.Second,
		Thread:          vrrp.ThreadConfig{RTPriority: 1, CPUs: []int{0, 1}, RLimitRTTime: 10 * time.Millisecond, LockMemory: true},
	}
}

func roundTrip(t *testing.T, in message) message {
	t.Helper()
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&in); err != nil {
		t.Fatalf("encode: %v", err)
	}
	var out message
	if err := gob.NewDecoder(&buf).Decode(&out); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return out
}

func TestMessagesRoundTrip(t *testing.T) {
	cfg := fullConfig()
	if got := roundTrip(t, message{Kind: kindStart, Start: &startMsg{Config: cfg, Name: "drlb_vrrp"}}); !reflect.DeepEqual(got.Start.Config, cfg) {
		t.Errorf("config changed on the way:\n got %+v\nwant %+v", got.Start.Config, cfg)
	}
	st := []vrrp.InstanceStatus{{Name: "VI_1", Interface: "eth1", VRID: 51, Version: vrrp.Version3, State: vrrp.StateMaster,
		SourceIP: netip.MustParseAddr("fe80::1"), MasterIP: netip.MustParseAddr("172.16.1.2"), Priority: 200, EffectivePriority: 190,
		Since:    time.Date(2026, 11, 29, 20, 0, 0, 123, time.UTC),
		Counters: vrrp.Counters{AdvertsSent: 5, Drops: map[vrrp.DropReason]uint64{1: 3}, Suspects: map[vrrp.SuspectReason]uint64{1: 1}},
	}}
	st[0].Timing.SendLateness.Observe(3 * time.Millisecond)
	got := roundTrip(t, message{Kind: kindStatus, Status: &statusMsg{Instances: st}})
	if !reflect.DeepEqual(got.Status.Instances, st) {
		t.Errorf("status changed on the way:\n got %+v\nwant %+v", got.Status.Instances, st)
	}
	tr := vrrp.Transition{Instance: "VI_1", From: vrrp.StateBackup, To: vrrp.StateMaster, Reason: "master down", Time: st[0].Since}
	if got := roundTrip(t, message{Kind: kindTransition, Transition: &tr}); *got.Transition != tr {
		t.Errorf("transition: got %+v, want %+v", *got.Transition, tr)
	}
	// An empty reply still says what it is.
	if got := roundTrip(t, message{Kind: kindUpdateDone, ID: 9, UpdateDone: &updateDoneMsg{}}); got.Kind != kindUpdateDone || got.ID != 9 || got.Err.err() != nil {
		t.Errorf("empty update reply: %+v", got)
	}
}

func TestErrorsKeepTheirSentinel(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want error
	}{
		{fmt.Errorf("%w: instance %q defined twice", vrrp.ErrConfig, "VI_1"), vrrp.ErrConfig},
		{vrrp.ErrNotRunning, vrrp.ErrNotRunning},
		{errors.New("socket: permission denied"), nil},
	} {
		got := roundTrip(t, message{Kind: kindExit, Err: newErrorMsg(tc.err)}).Err.err()
		if got.Error() != tc.err.Error() {
			t.Errorf("text: got %q, want %q", got, tc.err)
		}
		if tc.want != nil && !errors.Is(got, tc.want) {
			t.Errorf("%q does not wrap %v", got, tc.want)
		}
	}
}

// TestLogRecordsLookTheSame: a record forwarded by the child's handler
// and re-emitted by the parent's prints as the original would have.
func TestLogRecordsLookTheSame(t *testing.T) {
	var direct, forwarded bytes.Buffer
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	emit := func(l *slog.Logger) {
		l.With("instance", "VI_1").Info("(VI_1) Entering MASTER STATE", "late", 2500*time.Microsecond, "n", 3, "u", uint64(4),
			"ok", true, "f", 0.5, "err", errors.New("boom"), slog.Group("g", "k", "v"), "at", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	}
	emit(slog.New(slog.NewTextHandler(&direct, opts)))
	c := &child{out: newOutbox(), level: slog.LevelDebug}
	emit(slog.New(&forwardHandler{c: c}))
	parent := slog.NewTextHandler(&forwarded, opts)
	for _, m := range c.out.queue {
		m = roundTrip(t, m)
		rec := m.Log.record()
		if err := parent.Handle(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	strip := func(s string) string { _, rest, _ := strings.Cut(s, " "); return rest } // the time differs
	if strip(forwarded.String()) != strip(direct.String()) {
		t.Errorf("forwarded:\n%s\ndirect:\n%s", forwarded.String(), direct.String())
	}
}

// TestPayloadsCrossTheSocket: every field of every payload reaches the
// other end. gob leaves unexported fields out without a word and cannot
// encode funcs or channels, so a field added to vrrp.Config (or a
// message) that is one of those would be lost or break the child; the
// round trip above only covers the fields it fills.
func TestPayloadsCrossTheSocket(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(path string, ty reflect.Type)
	walk = func(path string, ty reflect.Type) {
		if seen[ty] {
			return
		}
		seen[ty] = true
		switch ty.Kind() {
		case reflect.Func, reflect.Chan, reflect.UnsafePointer:
			t.Errorf("%s: a %s cannot be sent", path, ty.Kind())
		case reflect.Pointer, reflect.Slice, reflect.Array:
			walk(path+"[]", ty.Elem())
		case reflect.Map:
			walk(path+"[key]", ty.Key())
			walk(path+"[]", ty.Elem())
		case reflect.Struct:
			if ty.Implements(reflect.TypeFor[gob.GobEncoder]()) || reflect.PointerTo(ty).Implements(reflect.TypeFor[gob.GobEncoder]()) ||
				reflect.PointerTo(ty).Implements(reflect.TypeFor[interface{ MarshalBinary() ([]byte, error) }]()) {
				return // encodes itself (netip, time)
			}
			for i := range ty.NumField() {
				f := ty.Field(i)
				if !f.IsExported() {
					t.Errorf("%s.%s: unexported, gob leaves it out", path, f.Name)
					continue
				}
				walk(path+"."+f.Name, f.Type)
			}
		}
	}
	walk("message", reflect.TypeFor[message]())
}
