package daemon_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/daemon/notify/notifytest"
	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

// groupTopology is the seed lab with a second lab web server on port 8080
// on each real server, for a virtual_server_group of two ports.
func groupTopology() *topology.Spec {
	spec := topology.Seed()
	for i := range spec.Hosts {
		if h := &spec.Hosts[i]; h.Name == "rs1" || h.Name == "rs2" {
			h.Services = append(h.Services, topology.Service{Name: "web8080", Web: &topology.WebService{Port: 8080}})
		}
	}
	return spec
}

// groupConfig serves 172.16.1.1:80 and :8080 through one
// virtual_server_group, writes notify_fifo lines to fifo and mails every
// change (smtp_alert) to the SMTP server at smtp (inside lb1's namespace).
func groupConfig(fifo, smtp string, members ...string) string {
	host, port, _ := net.SplitHostPort(smtp)
	return "global_defs {\n  router_id lb1\n  notify_fifo " + fifo + "\n" +
		"  notification_email {\n    ops@example.com\n  }\n  notification_email_from drlb@example.com\n" +
		"  smtp_server " + host + " " + port + "\n  smtp_connect_timeout 5\n  smtp_alert\n}\n" +
		"vrrp_instance VI_1 {\n  state MASTER\n  interface eth1\n  virtual_router_id 51\n  priority 100\n  advert_int 1\n" +
		"  virtual_ipaddress {\n    172.16.1.1\n  }\n}\n" +
		"virtual_server_group WEB {\n  " + strings.Join(members, "\n  ") + "\n}\n" +
		"virtual_server group WEB {\n  delay_loop 1\n  lvs_sched rr\n  lvs_method DR\n  protocol TCP\n" +
		"  real_server 172.16.1.10 80 {\n    HTTP_GET {\n      url {\n        path /flag.html\n      }\n      connect_timeout 1\n      retry 0\n    }\n  }\n" +
		"  real_server 172.16.1.11 80 {\n    HTTP_GET {\n      url {\n        path /flag.html\n      }\n      connect_timeout 1\n      retry 0\n    }\n  }\n}\n"
}

var _ = Describe("drlb with a virtual_server_group, notify_fifo and smtp_alert", Ordered, Label("daemon"), func() {
	var lab *topology.Lab
	var lb1 *balancer
	var sink *notifytest.Sink
	var fifo *os.File
	var fifoLines *bufio.Reader

	// hostOn fetches /data through the VIP on port and returns the serving host.
	hostOn := func(port int) (string, error) {
		resp, err := lab.HTTPClient("client", time.Second).Get(fmt.Sprintf("http://172.16.1.1:%d/data", port))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("status %s", resp.Status)
		}
		return resp.Header.Get("X-Real-Server"), nil
	}
	// spread makes n requests on port and counts the serving hosts.
	spread := func(port, n int) map[string]int {
		out := map[string]int{}
		for range n {
			h, err := hostOn(port)
			if err != nil {
				h = "error"
			}
			out[h]++
		}
		return out
	}
	// nextLines reads the FIFO lines written so far.
	nextLines := func() []string {
		_ = fifo.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		var out []string
		for {
			l, err := fifoLines.ReadString('\n')
			if err != nil {
				return out
			}
			out = append(out, l)
		}
	}
	var seen []string
	fifoSaid := func() []string { seen = append(seen, nextLines()...); return seen }

	BeforeAll(func() {
		testenv.PrivilegedGinkgo("nft")
		lab = labtest.Up(labtest.Name("vg"), groupTopology(), binDir)
		for _, rs := range []string{"rs1", "rs2"} {
			Expect(lab.SetPage(rs, "/flag.html", "up\n")).To(Succeed())
		}
		// The SMTP sink listens on lb1's loopback: the socket keeps the
		// namespace it was made in.
		Expect(lab.Do("lb1", func() error {
			var err error
			sink, err = notifytest.Listen("127.0.0.1:0")
			return err
		})).To(Succeed())
		DeferCleanup(func() { _ = sink.Close() })
		// The test reads the FIFO as keepalived's FIFO readers do; it makes
		// it first, so that drlb leaves it in place when it stops.
		path := filepath.Join(lab.Dir(), "notify.fifo")
		Expect(unix.Mkfifo(path, 0o600)).To(Succeed())
		var err error
		fifo, err = os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { _ = fifo.Close() })
		fifoLines = bufio.NewReader(fifo)
		lb1 = startDrlb(lab, "lb1", groupConfig(path, sink.Addr(), "172.16.1.1 80", "172.16.1.1 8080"))
		Eventually(lb1.state).WithTimeout(10 * time.Second).Should(Equal("MASTER"))
	})

	It("serves both ports of the group through one VIP, from both real servers", func() {
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(10 * time.Second).
			Should(ConsistOf("172.16.1.10:80", "172.16.1.11:80", "172.16.1.10:8080", "172.16.1.11:8080"))
		for _, port := range []int{80, 8080} {
			got := spread(port, 10)
			Expect(got).To(Equal(map[string]int{"rs1": 5, "rs2": 5}), "port %d, rr: %v", port, got)
		}
		// Control: a port outside the group is not forwarded.
		_, err := hostOn(8081)
		Expect(err).To(HaveOccurred(), "172.16.1.1:8081 is not in the group")
	})

	It("writes keepalived's notify_fifo lines", func() {
		Eventually(fifoSaid).WithTimeout(5 * time.Second).Should(ContainElements(
			"INSTANCE \"VI_1\" MASTER 100\n",
			"VS [172.16.1.1]:tcp:80 UP\n",
			"VS [172.16.1.1]:tcp:8080 UP\n"))
		Expect(lab.ResetPage("rs1", "/flag.html")).To(Succeed()) // 404 from now on
		Eventually(fifoSaid).WithTimeout(5 * time.Second).Should(ContainElements(
			"RS [172.16.1.10]:tcp:80 [172.16.1.1]:tcp:80 DOWN\n",
			"RS [172.16.1.10]:tcp:8080 [172.16.1.1]:tcp:8080 DOWN\n"))
		// The FIFO line is written when the health changes; the data plane
		// takes rs1 out just after.
		Eventually(func() map[string]int { return spread(8080, 4) }).WithTimeout(5 * time.Second).
			Should(Equal(map[string]int{"rs2": 4}))
		Expect(lab.SetPage("rs1", "/flag.html", "up\n")).To(Succeed())
		Eventually(fifoSaid).WithTimeout(5 * time.Second).Should(ContainElement("RS [172.16.1.10]:tcp:80 [172.16.1.1]:tcp:80 UP\n"))
	})

	It("mails the changes to the SMTP server with keepalived's subjects", func() {
		var subjects []string
		Eventually(func() []string {
			for {
				select {
				case m := <-sink.Mails():
					Expect(m.From).To(Equal("drlb@example.com"))
					Expect(m.To).To(Equal([]string{"ops@example.com"}))
					subjects = append(subjects, m.Header("Subject"))
				default:
					return subjects
				}
			}
		}).WithTimeout(10 * time.Second).Should(ContainElements(
			"[lb1] VRRP Instance VI_1 - Entering MASTER state",
			"[lb1] Realserver [172.16.1.10]:tcp:80 of virtual server [172.16.1.1]:tcp:80 - DOWN",
			"[lb1] Realserver [172.16.1.10]:tcp:80 of virtual server [172.16.1.1]:tcp:80 - UP"))
	})

	It("removes a member on reload without touching the other", func() {
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(5 * time.Second).
			Should(ConsistOf("172.16.1.10:80", "172.16.1.11:80", "172.16.1.10:8080", "172.16.1.11:8080"))
		// A connection through :80 established before the reload.
		var conn net.Conn
		Expect(lab.Do("client", func() error {
			var err error
			conn, err = net.DialTimeout("tcp", "172.16.1.1:80", 2*time.Second)
			return err
		})).To(Succeed())
		defer conn.Close()
		conf := groupConfig(filepath.Join(lab.Dir(), "notify.fifo"), sink.Addr(), "172.16.1.1 80")
		Expect(os.WriteFile(lb1.conf, []byte(conf), 0o644)).To(Succeed())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := lb1.client().Reload(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.OK).To(BeTrue(), "%v", res.Diagnostics)
		Expect(strings.Join(res.Changes, "; ")).NotTo(ContainSubstring(":80 "), "the :80 member is untouched: %v", res.Changes)
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(5 * time.Second).Should(ConsistOf("172.16.1.10:80", "172.16.1.11:80"))
		_, err = hostOn(8080)
		Expect(err).To(HaveOccurred(), "the removed member is no longer served")
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		_, err = fmt.Fprintf(conn, "GET /data HTTP/1.0\r\nHost: 172.16.1.1\r\n\r\n")
		Expect(err).NotTo(HaveOccurred())
		status, err := bufio.NewReader(conn).ReadString('\n')
		Expect(err).NotTo(HaveOccurred(), "the connection made before the reload still works")
		Expect(status).To(HavePrefix("HTTP/1.0 200"))
	})
})
