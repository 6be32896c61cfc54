package daemon

import (
	"bytes"
	"encoding/gob"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/vrrp"
)

func TestVRRPProcessName(t *testing.T) {
	for _, tc := range []struct {
		g            config.GlobalDefs
		vrrp, parent string
	}{
		{g: config.GlobalDefs{}, vrrp: "", parent: ""},
		{g: config.GlobalDefs{ProcessNames: true}, vrrp: "drlb_vrrp", parent: ""},
		{g: config.GlobalDefs{ProcessNames: true, VRRPProcessName: "lb_vrrp", ProcessName: "lb"}, vrrp: "lb_vrrp", parent: "lb"},
		{g: config.GlobalDefs{VRRPProcessName: "v"}, vrrp: "v"},
	} {
		cfg := &config.Config{Global: tc.g}
		if got := vrrpProcessName(cfg); got != tc.vrrp {
			t.Errorf("%+v: VRRP child %q, want %q", tc.g, got, tc.vrrp)
		}
		if got := parentProcessName(cfg); got != tc.parent {
			t.Errorf("%+v: parent %q, want %q", tc.g, got, tc.parent)
		}
	}
}

// TestVRRPConfigCrossesToTheChild: every VRRP configuration the daemon
// builds from the sample files reaches the child unchanged (the socket
// carries vrrp.Config as a gob; a field gob cannot carry, an interface
// or a func, would be lost or fail here).
func TestVRRPConfigCrossesToTheChild(t *testing.T) {
	files, _ := filepath.Glob("config/testdata/samples/*.conf")
	more, _ := filepath.Glob("testdata/parity/*.conf")
	files = append(append(files, more...), "config/testdata/seed-fixed.conf")
	tried := 0
	for _, f := range files {
		cfg, _, err := config.Load(f, config.Options{ConfigID: "lb1"})
		if err != nil || len(cfg.Instances) == 0 {
			continue
		}
		vc, err := VRRPConfig(cfg)
		if err != nil {
			continue
		}
		vc.Thread.CPUs = []int{1}
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(&vc); err != nil {
			t.Fatalf("%s: encode: %v", f, err)
		}
		var got vrrp.Config
		if err := gob.NewDecoder(&buf).Decode(&got); err != nil {
			t.Fatalf("%s: decode: %v", f, err)
		}
		// gob carries an empty slice or map as none: the same to the node.
		nilEmpty(reflect.ValueOf(&vc).Elem())
		if !reflect.DeepEqual(got, vc) {
			t.Errorf("%s: changed on the way:\n got %+v\nwant %+v", f, got, vc)
		}
		tried++
	}
	if tried < 3 {
		t.Fatalf("only %d sample files with VRRP instances", tried)
	}
}

// nilEmpty sets every empty slice and map inside v to nil.
func nilEmpty(v reflect.Value) {
	switch v.Kind() {
	case reflect.Slice:
		if v.Len() == 0 {
			if v.CanSet() {
				v.Set(reflect.Zero(v.Type()))
			}
			return
		}
		for i := range v.Len() {
			nilEmpty(v.Index(i))
		}
	case reflect.Map:
		if v.Len() == 0 && v.CanSet() {
			v.Set(reflect.Zero(v.Type()))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			nilEmpty(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				nilEmpty(v.Field(i))
			}
		}
	}
}
