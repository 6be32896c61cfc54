package scenarios

import (
	"errors"
	"strings"
	"testing"

	"github.com/drlb/drlb/topology"
)

func TestLibraryParsesAndRenders(t *testing.T) {
	names := List()
	if len(names) < 14 {
		t.Fatalf("library has %d scenarios, want at least 14: %v", len(names), names)
	}
	for _, name := range names {
		sc, err := Load(name, nil)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		topo := sc.Topology
		if topo == "" {
			topo = "seed"
		}
		spec, err := topology.LoadSpec(topo)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		vals := ValuesFor(spec)
		if err := sc.CheckHosts(spec); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		for _, b := range sc.Balancers {
			tmpl, err := sc.ConfigTemplate(b.Config)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			text, err := Render(b.Config, tmpl, vals, b.Host, b.Vars)
			if err != nil {
				t.Errorf("%s %s: %v", name, b.Host, err)
				continue
			}
			if topo == "scaleout" {
				// Scale-out directors announce by BGP and run no VRRP.
				if !strings.Contains(text, "drlb_bgp_announce") || strings.Contains(text, "<no value>") || len(ScanInstances(text)) != 0 {
					t.Errorf("%s %s: rendered scale-out config:\n%s", name, b.Host, text)
				}
				continue
			}
			if !strings.Contains(text, "virtual_router_id 51") || strings.Contains(text, "<no value>") {
				t.Errorf("%s %s: rendered config lacks the fixed VRID or has holes:\n%s", name, b.Host, text)
			}
			if ps := ScanInstances(text); len(ps) != 1 {
				t.Errorf("%s %s: scanned %d instances, want 1", name, b.Host, len(ps))
			}
		}
	}
}

func TestParseErrorsCarryLines(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown top-level key", "name: x\ndescription: d\nstepz: []\n", "f.yaml:3:"},
		{"unknown step key", "name: x\ndescription: d\nsteps:\n  - at: 1s\n    doo: kill\n", `f.yaml:5: unknown field "doo" (did you mean "do"?)`},
		{"unknown action", "name: x\ndescription: d\nsteps:\n  - at: 1s\n    do: kil\n    host: lb1\n", `f.yaml:4: unknown action "kil" (did you mean "kill"?)`},
		{"action on host without daemon", "name: x\ndescription: d\nsteps:\n  - do: kill\n    host: lb1\n", "f.yaml:4: kill: lb1 runs no daemon"},
		{"two kinds in one expectation", "name: x\ndescription: d\nsteps:\n  - at: 1s\n    expect:\n      - vip_owner: lb1\n        vrrp: {lb1: MASTER}\n", "f.yaml:6: expectation sets vip_owner and vrrp"},
		{"bad duration", "name: x\ndescription: d\nsteps:\n  - at: soon\n", `f.yaml:4: "soon" is not a duration`},
		{"traffic check without traffic", "name: x\ndescription: d\nsteps:\n  - at: 1s\n    expect:\n      - max_errors: 0\n", "f.yaml:6: max_errors needs a traffic block"},
		{"unbounded traffic", "name: x\ndescription: d\ntraffic: {url: http://x/, rate: 1000, duration: 1h}\nsteps:\n  - at: 1s\n", "f.yaml:3: traffic rate 1000"},
		{"steps out of order", "name: x\ndescription: d\nsteps:\n  - at: 3s\n  - at: 1s\n", "f.yaml:5: at 1s is before"},
		{"no description", "name: x\nsteps:\n  - at: 1s\n", "scenario needs a description"},
		{"bad vrrp state", "name: x\ndescription: d\nsteps:\n  - at: 1s\n    expect:\n      - vrrp: {lb1: MASTR}\n", `state "MASTR"`},
		{"unknown config", "name: x\ndescription: d\nbalancers:\n  - {host: lb1, config: howt}\nsteps:\n  - at: 1s\n", `f.yaml:4: config "howt" is neither`},
		{"traffic as condition", "name: x\ndescription: d\ntraffic: {url: http://x/, rate: 1, duration: 1s}\nsteps:\n  - after:\n      - max_errors: 1\n", "f.yaml:6: max_errors cannot be a condition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("parsed without error, want %q", tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n%v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseValidScenario(t *testing.T) {
	src := `name: mini
description: a test
balancers:
  - {host: lb1, config: howto}
traffic: {url: "http://{{.VIP}}/data", rate: 5, duration: 2s}
steps:
  - name: crash
    at: 1.5
    do: kill
    host: lb1
    expect:
      - vip_owner: [lb2, lb1]
        within: 2s
      - vip_owner: none
      - vip_owner: any
      - share: {server: rs1, min: 0.5, max: 1}
`
	sc, err := Parse("mini.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	st := sc.Steps[0]
	if st.At.D().Seconds() != 1.5 || st.Line != 7 || st.Expect[0].Line != 12 {
		t.Errorf("at %v line %d expect line %d", st.At, st.Line, st.Expect[0].Line)
	}
	if got := st.Expect[0].VIPOwner.Hosts; strings.Join(got, ",") != "lb1,lb2" {
		t.Errorf("owners %v, want sorted lb1,lb2", got)
	}
	if len(st.Expect[1].VIPOwner.Hosts) != 0 || st.Expect[1].VIPOwner.Any || !st.Expect[2].VIPOwner.Any {
		t.Errorf("none/any parsed wrong: %+v %+v", st.Expect[1].VIPOwner, st.Expect[2].VIPOwner)
	}
	if !st.Expect[3].IsTraffic() || st.Expect[0].IsTraffic() {
		t.Error("IsTraffic wrong")
	}
	if !sc.NeedsDrlb() || sc.NeedsKeepalived() {
		t.Error("NeedsDrlb/NeedsKeepalived wrong")
	}
}

func TestLoadUnknownSuggests(t *testing.T) {
	_, err := Load("master-crsh", nil)
	if err == nil || !strings.Contains(err.Error(), `did you mean "master-crash"`) {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	// Seeds: every library scenario (valid input), plus broken shapes that
	// exercise the error paths (wrong node kinds, bad durations, anchors).
	for _, name := range List() {
		data, err := library.ReadFile("library/" + name + ".yaml")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("name: [x]\nsteps: {a: b}\n"))
	f.Add([]byte("steps:\n  - at: -1s\n    expect: [{vip_owner: {a: b}}]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("traffic: {rate: .nan, duration: 1e300}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		// A valid scenario must be self-consistent.
		if sc.Name == "" || len(sc.Steps) == 0 {
			t.Fatalf("valid scenario without name or steps: %+v", sc)
		}
		for i := range sc.Steps {
			for j := range sc.Steps[i].Expect {
				if sc.Steps[i].Expect[j].Kind() == "" {
					t.Fatal("valid scenario with an expectation of no single kind")
				}
			}
		}
	})
}

func TestCheckHosts(t *testing.T) {
	src := "name: x\ndescription: d\nbalancers:\n  - {host: lb3, config: howto}\nsteps:\n  - do: kill\n    host: lb3\n    expect:\n      - vrrp: {lb1: MASTER, lbx/VI_1: BACKUP}\n"
	sc, err := Parse("x.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	err = sc.CheckHosts(topology.Seed())
	if err == nil {
		t.Fatal("unknown hosts accepted")
	}
	for _, want := range []string{`x.yaml:4: balancer "lb3" is not a host of topology seed (did you mean "lb1"?)`, `x.yaml:6: host "lb3"`, `x.yaml:9: vrrp host "lbx"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error\n%v\nlacks %q", err, want)
		}
	}
}
