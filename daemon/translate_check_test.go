package daemon

import (
	"testing"

	"github.com/drlb/drlb/daemon/check"
	"github.com/miekg/dns"
)

func TestCheckServersParityIIKinds(t *testing.T) {
	cfg := parse(t, `
SSL {
  ca /etc/ca.pem
  certificate /etc/c.pem
}
track_file tf {
  file /run/tf
  weight 3
}
virtual_server 10.0.0.1 80 {
  alpha
  real_server 10.0.0.2 80 {
    weight 4
    alpha no
    SMTP_CHECK { helo_name lb1 }
    DNS_CHECK { type A
      name www.example }
    UDP_CHECK { payload 0a0b
      require_reply }
    PING_CHECK { alpha }
    FILE_CHECK { track_file tf
      dynamic }
    SSL_GET { http_protocol 1.1
      sni_name s.example
      bind_if eth1
      fwmark 9
      url { path /
        regex ok } }
  }
}
`)
	servers, err := CheckServers(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := servers[0].Checkers
	if len(got) != 6 {
		t.Fatalf("got %d checkers", len(got))
	}
	want := []func(s check.Spec) bool{
		func(s check.Spec) bool { return s.Kind == check.KindSMTP && s.SMTP.HeloName == "lb1" && !s.Alpha },
		func(s check.Spec) bool { return s.Kind == check.KindDNS && s.DNS.Type == dns.TypeA && s.DNS.Name == "www.example" },
		func(s check.Spec) bool {
			return s.Kind == check.KindUDP && string(s.UDP.Payload) == "\x0a\x0b" && s.UDP.RequireReply
		},
		func(s check.Spec) bool { return s.Kind == check.KindPing && s.Alpha && s.Addr.Port() == 0 },
		func(s check.Spec) bool {
			return s.Kind == check.KindFile && s.File == check.FileSpec{Path: "/run/tf", Weight: 3, Dynamic: true, BaseWeight: 4}
		},
		func(s check.Spec) bool {
			return s.Kind == check.KindSSL && s.HTTP.Protocol == check.HTTP11 && s.HTTP.EnableSNI && s.HTTP.SNIName == "s.example" &&
				s.BindIf == "eth1" && s.FWMark == 9 && s.HTTP.URLs[0].Regex == "ok" && s.HTTP.ClientCert.CA == "/etc/ca.pem" &&
				s.HTTP.ClientCert.Certificate == "/etc/c.pem"
		},
	}
	for i, ok := range want {
		if !ok(got[i]) {
			t.Errorf("checker %d (%s) = %+v", i, got[i].Kind, got[i])
		}
		if err := got[i].Validate(); err != nil {
			t.Errorf("checker %d: %v", i, err)
		}
	}
}
