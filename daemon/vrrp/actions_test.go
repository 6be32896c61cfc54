package vrrp

import (
	"context"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"/bin/a.sh", []string{"/bin/a.sh"}, false},
		{"  /bin/a.sh  x\ty ", []string{"/bin/a.sh", "x", "y"}, false},
		{`/bin/a "two words" 'single $x' a\ b ""`, []string{"/bin/a", "two words", "single $x", "a b", ""}, false},
		{`'a'"b"c`, []string{"abc"}, false},
		{`"open`, nil, true},
		{`trailing\`, nil, true},
		{"   ", nil, true},
	}
	for _, tt := range tests {
		got, err := SplitCommand(tt.in)
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitCommand(%q) = %q, %v; want %q, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestNotifyCommands(t *testing.T) {
	s := NotifyScripts{Master: "/m.sh arg", Backup: "/b.sh", Stop: "/s.sh", Notify: "/n.sh x"}
	tests := []struct {
		kind  string
		state State
		prio  uint8
		want  [][]string
	}{
		{"INSTANCE", StateMaster, 150, [][]string{{"/m.sh", "arg"}, {"/n.sh", "x", "INSTANCE", "VI_1", "MASTER", "150"}}},
		// keepalived's vrrp_notify.c: "the prio will be indicated as zero for a group".
		{"GROUP", StateBackup, 100, [][]string{{"/b.sh"}, {"/n.sh", "x", "GROUP", "VI_1", "BACKUP", "0"}}},
		{"INSTANCE", StateFault, 1, [][]string{{"/n.sh", "x", "INSTANCE", "VI_1", "FAULT", "1"}}},
		{"INSTANCE", StateStopped, 0, [][]string{{"/s.sh"}, {"/n.sh", "x", "INSTANCE", "VI_1", "STOP", "0"}}},
	}
	for _, tt := range tests {
		got, err := NotifyCommands(s, tt.kind, "VI_1", tt.state, tt.prio)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("NotifyCommands(%v) = %q, %v; want %q", tt.state, got, err, tt.want)
		}
	}
	if _, err := NotifyCommands(NotifyScripts{Notify: `"x`}, "INSTANCE", "VI_1", StateMaster, 1); err == nil {
		t.Error("bad quoting accepted")
	}
}

func TestExecScriptTimeout(t *testing.T) {
	if err := ExecScript(context.Background(), []string{"true"}); err != nil {
		t.Fatalf("true: %v", err)
	}
	if err := ExecScript(context.Background(), []string{"false"}); err == nil {
		t.Fatal("false succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := ExecScript(ctx, []string{"sleep", "5"}); err == nil {
		t.Fatal("sleep 5 not killed")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}

func TestScriptTracker(t *testing.T) {
	tr := ScriptTracker{Rise: 2, Fall: 3, OK: true}
	results := []bool{false, false, true, false, false, false, true, true}
	wantChange := []bool{false, false, false, false, false, true, false, true}
	for i, r := range results {
		if got := tr.Observe(r); got != wantChange[i] {
			t.Fatalf("result %d (%v): changed %v, want %v (tracker %+v)", i, r, got, wantChange[i], tr)
		}
	}
	if !tr.OK {
		t.Fatal("tracker not OK after two successes")
	}
}

func TestMarshalGARP(t *testing.T) {
	mac := net.HardwareAddr{0x4a, 0x2f, 0x7a, 0x85, 0x2d, 0xa0}
	b, err := MarshalGARP(mac, netip.MustParseAddr("172.16.1.1"))
	if err != nil {
		t.Fatal(err)
	}
	want := "ffffffffffff" + "4a2f7a852da0" + "0806" + "0001" + "0800" + "06" + "04" + "0001" +
		"4a2f7a852da0" + "ac100101" + "ffffffffffff" + "ac100101"
	if got := hex.EncodeToString(b[:42]); got != want {
		t.Fatalf("frame\n%s\nwant\n%s", got, want)
	}
	if len(b) != 60 {
		t.Fatalf("frame length %d, want 60", len(b))
	}
	if _, err := MarshalGARP(mac[:4], netip.MustParseAddr("172.16.1.1")); err == nil {
		t.Fatal("short MAC accepted")
	}
}

type errGARP struct{ fakeGARP }

func (e *errGARP) SendGARP(ip netip.Addr) error {
	if ip.Is4() && ip.As4()[3] == 9 {
		return errors.New("boom")
	}
	return e.fakeGARP.SendGARP(ip)
}

func TestSendGARPBursts(t *testing.T) {
	ips := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.9")}
	g := &errGARP{}
	var errs int
	n := SendGARPBursts(context.Background(), g, ips, GARPSchedule{Repeat: 3, Delay: 10 * time.Millisecond}, func(error) { errs++ })
	if n != 6 || errs != 6 || g.count() != 6 {
		t.Fatalf("sent %d (counted %d), errors %d; want 6, 6", n, g.count(), errs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n := SendGARPBursts(ctx, &fakeGARP{}, ips, GARPSchedule{Repeat: 5, Delay: time.Hour}, func(error) {}); n != 0 {
		t.Fatalf("cancelled schedule sent %d", n)
	}
	if n := SendGARPBursts(context.Background(), &fakeGARP{}, ips[:1], GARPSchedule{Repeat: 5, Delay: -1}, func(error) {}); n != 5 {
		t.Fatalf("single burst sent %d, want 5", n)
	}
}
