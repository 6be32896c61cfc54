package dataplane_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/daemon/dataplane/nft"
	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

// labVIP6 is the seed lab's IPv6 virtual address.
var labVIP6 = netip.MustParseAddr("fd00:172:16:1::1")

// labTable6 is labTable on the IPv6 VIP with rs1 and rs2's IPv6 addresses.
func labTable6(sched string, w1, w2 int) dataplane.Table {
	s := dataplane.Service{VIP: labVIP6, Port: 80, Protocol: dataplane.TCP, Scheduler: sched, Interface: "eth1"}
	for i, w := range []int{w1, w2} {
		if w >= 0 {
			s.Reals = append(s.Reals, dataplane.Real{Addr: netip.MustParseAddr(fmt.Sprintf("fd00:172:16:1::%d", 10+i)), Port: 80, Weight: uint32(w)})
		}
	}
	return dataplane.Table{Services: []dataplane.Service{s}}
}

// moveVIP6 puts the IPv6 VIP on eth1 of host, as keepalived adds a /128
// (no DAD, deprecated), or takes it away.
func moveVIP6(lab *topology.Lab, host string, add bool) {
	GinkgoHelper()
	h, err := lab.Handle(host)
	Expect(err).NotTo(HaveOccurred())
	link, err := h.LinkByName("eth1")
	Expect(err).NotTo(HaveOccurred())
	addr, err := netlink.ParseAddr(labVIP6.String() + "/128")
	Expect(err).NotTo(HaveOccurred())
	addr.Flags = unix.IFA_F_NODAD
	addr.ValidLft, addr.PreferedLft = 0xffffffff, 0
	if add {
		Expect(h.AddrAdd(link, addr)).To(Succeed())
	} else {
		Expect(h.AddrDel(link, addr)).To(Succeed())
	}
}

// servedBy6 is servedBy through the IPv6 VIP.
func servedBy6(c *http.Client) (string, bool, error) {
	return servedFrom(c, "http://[fd00:172:16:1::1]/data")
}

var _ = Describe("the nft data plane over IPv6 in the seed lab", Ordered, func() {
	var (
		lab      *topology.Lab
		lb1, lb2 *nft.Backend
		ctx      context.Context
	)

	BeforeAll(func() {
		testenv.PrivilegedGinkgo("nft")
		ctx = context.Background()
		lab = labtest.Up(labtest.Name("d6l"), topology.Seed(), binDir)
		moveVIP6(lab, "lb1", true)
		var err error
		lb1, err = nft.New(dataplane.Options{NetNSPath: lab.NSPath("lb1")})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(lb1.Flush(context.Background())).To(Succeed()) })
		lb2, err = nft.New(dataplane.Options{NetNSPath: lab.NSPath("lb2")})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(lb2.Flush(context.Background())).To(Succeed()) })
	})

	It("with mh, keeps an established IPv6 connection when the VIP moves to lb2", func() {
		// Both balancers build the same Maglev table and hash a flow the
		// same way, so lb2 sends a flow it never saw to the same server.
		table := labTable6("mh", 1, 1)
		Expect(lb1.Apply(ctx, table)).To(Succeed())
		Expect(lb2.Apply(ctx, table)).To(Succeed())
		for _, want := range []string{"rs1", "rs2"} {
			var c *http.Client
			for range 20 {
				c = keepAliveClient(lab, "client")
				got, _, err := servedBy6(c)
				Expect(err).NotTo(HaveOccurred())
				if got == want {
					break
				}
				c.CloseIdleConnections()
				c = nil
			}
			Expect(c).NotTo(BeNil(), "no connection landed on %s", want)
			moveVIP6(lab, "lb1", false)
			moveVIP6(lab, "lb2", true)
			// The client learns lb2's MAC, as an unsolicited NA would tell it.
			out, err := lab.Output(ctx, "client", "ip", "-6", "neigh", "flush", "dev", "eth1")
			Expect(err).NotTo(HaveOccurred(), "%s", out)
			for range 3 {
				server, reused, err := servedBy6(c)
				Expect(err).NotTo(HaveOccurred())
				Expect(reused).To(BeTrue(), "the connection was not kept")
				Expect(server).To(Equal(want))
			}
			obs, err := lb2.Observe(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(obs.Services[0].Observed).To(ContainElement(HaveField("ActiveConn", BeNumerically(">", 0))),
				"lb2 forwarded nothing")
			c.CloseIdleConnections()
			moveVIP6(lab, "lb2", false)
			moveVIP6(lab, "lb1", true)
			out, err = lab.Output(ctx, "client", "ip", "-6", "neigh", "flush", "dev", "eth1")
			Expect(err).NotTo(HaveOccurred(), "%s", out)
			Expect(lb2.Flush(ctx)).To(Succeed())
			Expect(lb2.Apply(ctx, table)).To(Succeed())
		}
	})

	It("keeps a client on one server per /64 with persistence_granularity 64", func() {
		table := labTable6("wrr", 1, 1)
		table.Services[0].PersistenceTimeout = 60 * time.Second
		table.Services[0].PersistenceBits = 64
		Expect(lb1.Flush(ctx)).To(Succeed())
		Expect(lb1.Apply(ctx, table)).To(Succeed())
		client := lab.HTTPClient("client", 3*time.Second) // a new connection per request
		got := map[string]int{}
		for range 20 {
			server, _, err := servedBy6(client)
			Expect(err).NotTo(HaveOccurred())
			got[server]++
		}
		Expect(got).To(HaveLen(1), "one client address, one server: %v", got)
		// Control: without persistence wrr 1:1 alternates.
		Expect(lb1.Flush(ctx)).To(Succeed())
		Expect(lb1.Apply(ctx, labTable6("wrr", 1, 1))).To(Succeed())
		got = map[string]int{}
		for range 20 {
			server, _, err := servedBy6(client)
			Expect(err).NotTo(HaveOccurred())
			got[server]++
		}
		Expect(got).To(Equal(map[string]int{"rs1": 10, "rs2": 10}))
	})
})
