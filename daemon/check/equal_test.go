package check

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// fullSpec sets every field of a Spec (and of its nested types) to a
// non-zero value; TestEqualCoversEveryField checks that it does.
func fullSpec() Spec {
	return Spec{
		Kind: KindHTTP, Addr: netip.MustParseAddrPort("10.0.0.1:80"), BindTo: netip.MustParseAddrPort("10.0.0.2:0"),
		FWMark: 7, ConnectTimeout: time.Second, DelayLoop: 2 * time.Second, Retry: 3,
		DelayBeforeRetry: 4 * time.Second, Warmup: 5 * time.Second, Alpha: true,
		HTTP: HTTPSpec{
			URLs: []URL{{Path: "/", Digest: "abc", StatusCodes: []StatusRange{{Min: 200, Max: 299}}, VirtualHost: "u.example", Regex: "ok", RegexNoMatch: true,
				RegexMinOffset: 1, RegexMaxOffset: 2, RegexMaxOffsetSet: true}},
			VirtualHost: "www.example", Protocol: HTTP11, EnableSNI: true, VerifyTLS: true, MaxResponseBytes: 1 << 20,
			SNIName: "sni.example", ClientCert: TLSFiles{CA: "/ca.pem"},
		},
		Misc:           MiscSpec{Path: "/bin/true", Timeout: time.Second, Dynamic: true},
		BindIf:         "eth1",
		LogAllFailures: true,
		SMTP:           SMTPSpec{HeloName: "lb"},
		DNS:            DNSSpec{Type: 1, Name: "example."},
		UDP: UDPSpec{Payload: []byte{1}, RequireReply: true, Reply: []byte{2}, ReplyMask: []byte{0xff},
			MinReplyLength: 1, MaxReplyLength: 9},
		File: FileSpec{Path: "/f", Weight: 2, Reverse: true, Dynamic: true, BaseWeight: 1},
	}
}

// TestEqualCoversEveryField zeroes each field of a fully set value in turn
// and checks that the equality function notices. (MiscSpec is compared
// with ==, which covers every field by construction.) A field added to one of
// these types fails here until the test value sets it and equal compares it.
func TestEqualCoversEveryField(t *testing.T) {
	spec := fullSpec()
	server := Server{Target: Target{"vs", "rs"}, Weight: 2, NotifyUp: "/bin/up", NotifyDown: "/bin/down", Checkers: []Spec{spec}}
	cases := []struct {
		name  string
		value any
		equal func(a, b any) bool
	}{
		{"Server", server, func(a, b any) bool { return a.(Server).equal(b.(Server)) }},
		{"Spec", spec, func(a, b any) bool { return a.(Spec).Equal(b.(Spec)) }},
		{"HTTPSpec", spec.HTTP, func(a, b any) bool { return a.(HTTPSpec).equal(b.(HTTPSpec)) }},
		{"URL", spec.HTTP.URLs[0], func(a, b any) bool { return a.(URL).equal(b.(URL)) }},
		{"UDPSpec", spec.UDP, func(a, b any) bool { return a.(UDPSpec).equal(b.(UDPSpec)) }},
	}
	for _, c := range cases {
		v := reflect.ValueOf(c.value)
		if !c.equal(c.value, c.value) {
			t.Errorf("%s: a value is not equal to itself", c.name)
		}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if v.Field(i).IsZero() {
				t.Errorf("%s.%s is zero in the test value: set it so the check below means something", c.name, f.Name)
				continue
			}
			mutated := reflect.New(v.Type()).Elem()
			mutated.Set(v)
			mutated.Field(i).SetZero()
			if c.equal(c.value, mutated.Interface()) {
				t.Errorf("%s.%s: equal ignores this field", c.name, f.Name)
			}
		}
	}
	// A nil and an empty list are the same configuration.
	a, b := spec, spec
	a.HTTP.URLs[0].StatusCodes, b.HTTP.URLs = nil, append([]URL(nil), spec.HTTP.URLs...)
	b.HTTP.URLs[0].StatusCodes = []StatusRange{}
	if !a.Equal(b) {
		t.Error("nil and empty status code lists compare unequal")
	}
}
