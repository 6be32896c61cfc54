package daemon

import (
	"reflect"
	"testing"
	"time"

	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/vrrp"
)

func TestCheckerSchedOf(t *testing.T) {
	p := func(v int) *int { return &v }
	d := func(v time.Duration) *time.Duration { return &v }
	for _, tt := range []struct {
		name   string
		ps     *config.ProcessSched
		want   checkerSched
		ok     bool
		thread bool
	}{
		{name: "none"},
		{name: "no_swap only", ps: &config.ProcessSched{NoSwap: true}, want: checkerSched{LockMemory: true}, ok: true},
		{name: "real-time takes keepalived's default rlimit", ps: &config.ProcessSched{RTPriority: p(20)},
			want: checkerSched{RTPriority: p(20), RLimitRTTime: vrrp.DefaultRLimitRTTime}, ok: true, thread: true},
		{name: "rlimit given", ps: &config.ProcessSched{RTPriority: p(20), RLimitRTTime: d(time.Second)},
			want: checkerSched{RTPriority: p(20), RLimitRTTime: time.Second}, ok: true, thread: true},
		{name: "real-time off", ps: &config.ProcessSched{RTPriority: p(0), Nice: p(-3)},
			want: checkerSched{RTPriority: p(0), Nice: p(-3)}, ok: true, thread: true},
		{name: "affinity", ps: &config.ProcessSched{CPUs: []int{0, 2}}, want: checkerSched{CPUs: []int{0, 2}}, ok: true, thread: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := checkerSchedOf(config.GlobalDefs{CheckerProcess: tt.ps})
			if ok != tt.ok || !reflect.DeepEqual(got, tt.want) || got.threadWide() != tt.thread {
				t.Errorf("got %+v %v (thread-wide %v), want %+v %v (thread-wide %v)", got, ok, got.threadWide(), tt.want, tt.ok, tt.thread)
			}
		})
	}
}
