package dataplane

import (
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func web(vip string, port uint16, sched string, reals ...Real) Service {
	return Service{VIP: netip.MustParseAddr(vip), Port: port, Protocol: TCP, Scheduler: sched, Interface: "eth1", Reals: reals}
}

func rs(addr string, w uint32) Real {
	return Real{Addr: netip.MustParseAddr(addr), Port: 80, Weight: w}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		svc  []Service
		want string // "" = valid
	}{
		{"valid", []Service{web("172.16.1.1", 80, "wrr", rs("10.0.0.1", 1))}, ""},
		{"default scheduler", []Service{web("172.16.1.1", 80, "", rs("10.0.0.1", 1))}, ""},
		{"fwmark", []Service{{FWMark: 5, Scheduler: "rr", Reals: []Real{rs("10.0.0.1", 1)}}}, ""},
		{"twice", []Service{web("172.16.1.1", 80, "rr"), web("172.16.1.1", 80, "rr")}, "defined twice"},
		{"no vip", []Service{{Port: 80, Protocol: TCP}}, "neither a VIP nor a firewall mark"},
		{"both", []Service{{FWMark: 1, VIP: netip.MustParseAddr("10.0.0.1")}}, "both a firewall mark and a VIP"},
		{"bad protocol", []Service{{VIP: netip.MustParseAddr("10.0.0.1"), Port: 80, Protocol: 1}}, "unsupported protocol 1"},
		{"port 0", []Service{web("172.16.1.1", 0, "rr")}, "port 0 is only allowed"},
		{"scheduler", []Service{web("172.16.1.1", 80, "random")}, `unknown scheduler "random"`},
		{"persistence fraction", []Service{func() Service {
			s := web("172.16.1.1", 80, "rr")
			s.PersistenceTimeout = 1500 * time.Millisecond
			return s
		}()}, "whole number of seconds"},
		{"granularity", []Service{func() Service { s := web("172.16.1.1", 80, "rr"); s.PersistenceBits = 33; return s }()}, "granularity /33"},
		{"family", []Service{web("172.16.1.1", 80, "rr", rs("2001:db8::1", 1))}, "address family"},
		{"dup real", []Service{web("172.16.1.1", 80, "rr", rs("10.0.0.1", 1), rs("10.0.0.1", 2))}, "listed twice"},
		{"interface", []Service{func() Service { s := web("172.16.1.1", 80, "rr"); s.Interface = "a very long name"; return s }()}, "not a valid Linux interface name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Table{Services: tt.svc}.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}

func TestCanonicalOrderIndependent(t *testing.T) {
	a := Table{Services: []Service{
		web("172.16.1.2", 80, "rr", rs("10.0.0.2", 1), rs("10.0.0.1", 1)),
		{FWMark: 3, Scheduler: "rr"},
		web("172.16.1.1", 443, "", rs("10.0.0.1", 1)),
	}}
	b := Table{Services: slices.Clone(a.Services)}
	slices.Reverse(b.Services)
	b.Services[2].Reals = []Real{rs("10.0.0.1", 1), rs("10.0.0.2", 1)}
	ca, cb := a.Canonical(), b.Canonical()
	if len(Diff(ca, cb)) != 0 || len(Diff(a, b)) != 0 {
		t.Errorf("reordered tables differ: %v", Diff(a, b))
	}
	keys := []string{}
	for _, s := range ca.Services {
		keys = append(keys, s.Key().String())
	}
	want := "TCP 172.16.1.1:443,TCP 172.16.1.2:80,FWM 3"
	if strings.Join(keys, ",") != want {
		t.Errorf("order = %v, want %s", keys, want)
	}
	if ca.Services[0].Scheduler != DefaultScheduler {
		t.Errorf("scheduler not defaulted: %q", ca.Services[0].Scheduler)
	}
}

func TestDiffGolden(t *testing.T) {
	cur := Table{Services: []Service{
		web("172.16.1.1", 80, "wrr", rs("10.0.0.1", 1), rs("10.0.0.2", 2)),
		web("172.16.1.1", 443, "rr", rs("10.0.0.1", 1)),
		web("172.16.1.1", 8080, "rr", rs("10.0.0.1", 1)),
	}}
	nat := web("172.16.1.1", 8080, "rr", rs("10.0.0.1", 1))
	nat.Method = NAT
	des := Table{Services: []Service{
		web("172.16.1.1", 80, "wrr", rs("10.0.0.2", 0), rs("10.0.0.3", 1)),
		nat,
		web("172.16.1.9", 53, "sh", rs("10.0.0.9", 1)),
	}}
	var lines []string
	for _, c := range Diff(cur, des) {
		lines = append(lines, c.String())
	}
	got := strings.Join(lines, "\n") + "\n"
	path := filepath.Join("testdata", "diff.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
	if d := Diff(des, des); len(d) != 0 {
		t.Errorf("Diff(x, x) = %v", d)
	}
}

func TestFormatGolden(t *testing.T) {
	p := web("172.16.1.1", 443, "sh")
	p.PersistenceTimeout = 300 * time.Second
	p.PersistenceBits = 24
	p.Flags = Fallback | HashPort
	obs := Observation{Kind: KindNFT, Version: "1.2.1 (size=4096)", Services: []ObservedService{
		{Service: web("172.16.1.1", 80, "wrr"), Observed: []ObservedReal{{Real: rs("172.16.1.10", 1), ActiveConn: 12, InActConn: 3}, {Real: rs("172.16.1.11", 0)}}},
		{Service: p, Observed: []ObservedReal{{Real: rs("172.16.1.10", 1)}}},
		{Service: Service{VIP: netip.MustParseAddr("2001:db8::1"), Port: 53, Protocol: UDP, Scheduler: "rr", Method: NAT, Flags: OnePacket | SchedFlag3},
			Observed: []ObservedReal{{Real: Real{Addr: netip.MustParseAddr("2001:db8::10"), Port: 5353, Weight: 5}}}},
		{Service: Service{FWMark: 9, Scheduler: "mh", Method: TUN}},
	}}
	var b strings.Builder
	if err := FormatIPVSADM(&b, obs); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "ipvsadm.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("format:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestParsers(t *testing.T) {
	if p, err := ParseProtocol("SCTP"); err != nil || p != SCTP {
		t.Errorf("ParseProtocol = %v, %v", p, err)
	}
	if _, err := ParseProtocol("icmp"); err == nil {
		t.Error("icmp accepted")
	}
	if m, err := ParseMethod("tun"); err != nil || m != TUN || m.IPVSName() != "Tunnel" {
		t.Errorf("ParseMethod = %v, %v", m, err)
	}
	if k, err := ParseKind("auto"); err != nil || k != KindAuto {
		t.Errorf("ParseKind = %v, %v", k, err)
	}
	if _, err := ParseKind("bpf"); err == nil {
		t.Error("bpf accepted")
	}
}

// FuzzDiff checks that Diff of a table with itself is empty and that
// applying Diff's changes to the current table yields the desired one.
func FuzzDiff(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6}, []byte{6, 5, 4})
	f.Add([]byte{}, []byte{9, 9, 9, 9})
	build := func(b []byte) Table {
		var t Table
		seen := map[byte]bool{}
		for i := 0; i+2 < len(b); i += 3 {
			if seen[b[i]%4] {
				continue
			}
			seen[b[i]%4] = true
			s := web("172.16.1.1", uint16(80+b[i]%4), Schedulers[int(b[i+1])%len(Schedulers)])
			s.Flags = ServiceFlags(b[i+1]>>5) << 3 // scheduler flags
			s.Method = Method(b[i] >> 2 % 3)
			for j := range int(b[i+2] % 4) {
				r := rs("10.0.0."+string(rune('1'+j)), uint32(b[i+2]>>2))
				if j == 0 && b[i]&0x80 != 0 {
					r.Method, r.OwnMethod = TUN, true // a server's own method
				}
				s.Reals = append(s.Reals, r)
			}
			t.Services = append(t.Services, s)
		}
		return t
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		cur, des := build(a), build(b)
		if err := des.Validate(); err != nil {
			return
		}
		if d := Diff(des, des); len(d) != 0 {
			t.Fatalf("Diff(x, x) = %v", d)
		}
		got := applyChanges(cur.Canonical(), Diff(cur, des))
		if d := Diff(got, des); len(d) != 0 {
			t.Fatalf("after applying the diff still differs: %v", d)
		}
	})
}

// applyChanges is a model of a back end, for FuzzDiff.
func applyChanges(t Table, changes []Change) Table {
	idx := func(k ServiceKey) int {
		return slices.IndexFunc(t.Services, func(s Service) bool { return s.Key() == k })
	}
	for _, c := range changes {
		i := idx(c.Service.Key())
		switch c.Kind {
		case AddService:
			t.Services = append(t.Services, c.Service)
		case UpdateService:
			// As IPVS: each destination keeps its method until updated.
			reals := slices.Clone(t.Services[i].Reals)
			for j, r := range reals {
				reals[j].Method, reals[j].OwnMethod = t.Services[i].RealMethod(r), true
			}
			t.Services[i] = c.Service
			t.Services[i].Reals = reals
		case RemoveService:
			t.Services = slices.Delete(t.Services, i, i+1)
		case AddReal:
			t.Services[i].Reals = append(t.Services[i].Reals, c.Real)
		case UpdateReal, RemoveReal:
			rs := t.Services[i].Reals
			j := slices.IndexFunc(rs, func(r Real) bool { return r.AddrPort() == c.Real.AddrPort() })
			if c.Kind == UpdateReal {
				rs[j] = c.Real
			} else {
				t.Services[i].Reals = slices.Delete(rs, j, j+1)
			}
		}
	}
	return t
}
