package vrrp

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFileTrackEffect(t *testing.T) {
	tests := []struct {
		weight  int
		reverse bool
		value   int64
		delta   int
		fault   bool
	}{
		{0, false, 0, 0, false},
		{0, false, 7, 0, true},
		{0, true, 0, 0, true},
		{0, true, 7, 0, false},
		{1, false, 20, 20, false},
		{-5, false, 3, -15, false},
		{5, true, 3, -15, false},
		{1, false, -254, 0, true},
		{1, false, -253, -253, false},
		{10, false, 100, 253, false},
	}
	for _, tt := range tests {
		d, f := FileTrackEffect(tt.weight, tt.reverse, tt.value)
		if d != tt.delta || f != tt.fault {
			t.Errorf("FileTrackEffect(%d, %v, %d) = %d, %v; want %d, %v", tt.weight, tt.reverse, tt.value, d, f, tt.delta, tt.fault)
		}
	}
}

func TestReadAndInitTrackFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tf")
	if _, err := ReadTrackFile(p); err == nil {
		t.Fatal("missing file read without error")
	}
	if err := InitTrackFile(p, 5, false); err != nil {
		t.Fatal(err)
	}
	if err := InitTrackFile(p, 9, false); err != nil { // exists: kept
		t.Fatal(err)
	}
	if v, err := ReadTrackFile(p); err != nil || v != 5 {
		t.Fatalf("after init_file 5 then 9 without overwrite: %d, %v; want 5", v, err)
	}
	if err := InitTrackFile(p, -2, true); err != nil {
		t.Fatal(err)
	}
	if v, _ := ReadTrackFile(p); v != -2 {
		t.Fatalf("after overwrite: %d, want -2", v)
	}
	for in, want := range map[string]int64{"": 0, "  42 apples": 42, "x": 0, "-99999999999": -1 << 31} {
		_ = os.WriteFile(p, []byte(in), 0o600)
		if v, _ := ReadTrackFile(p); v != want {
			t.Errorf("ReadTrackFile(%q) = %d, want %d", in, v, want)
		}
	}
}

// TestNodeTrackFile: the number in a tracked file moves the priority and,
// with weight 0, puts the instance in FAULT, as keepalived's track_file.
func TestNodeTrackFile(t *testing.T) {
	dir := t.TempDir()
	wf, ff := filepath.Join(dir, "weight"), filepath.Join(dir, "fault")
	if err := os.WriteFile(wf, []byte("0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &hub{}
	c := v3Instance("VI_1", "172.16.1.2", 100)
	c.WantMaster = true
	c.TrackFiles = []TrackFile{{Name: "w", Path: wf, Weight: -10}, {Name: "f", Path: ff, Weight: 0}}
	a := startNode(t, h, Config{Instances: []InstanceConfig{c}})
	eventually(t, time.Second, "master at 100", func() bool {
		s := a.node.Status()[0]
		return s.State == StateMaster && s.EffectivePriority == 100
	})
	if err := os.WriteFile(wf, []byte("3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "priority 70 (3 × -10)", func() bool { return a.node.Status()[0].EffectivePriority == 70 })
	if err := os.WriteFile(ff, []byte("1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "FAULT (weight 0, value 1)", func() bool { return a.node.Status()[0].State == StateFault })
	if err := os.WriteFile(ff, []byte("0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, 4*time.Second, "out of FAULT", func() bool { return a.node.Status()[0].State != StateFault })
}
