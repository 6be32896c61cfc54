package dataplane_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/vishvananda/netlink"

	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/daemon/dataplane/nft"
	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

func TestLab(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "dataplane lab suite")
}

var binDir string

var _ = labtest.SuiteBinaries(&binDir, "nft")

// labVIP is the seed lab's virtual address.
var labVIP = netip.MustParseAddr("172.16.1.1")

// labTable is one HTTP service on the VIP (eth1) with rs1 and rs2 at the
// given weights; a negative weight leaves that server out.
func labTable(sched string, w1, w2 int) dataplane.Table {
	s := dataplane.Service{VIP: labVIP, Port: 80, Protocol: dataplane.TCP, Scheduler: sched, Interface: "eth1"}
	for i, w := range []int{w1, w2} {
		if w >= 0 {
			s.Reals = append(s.Reals, dataplane.Real{Addr: netip.AddrFrom4([4]byte{172, 16, 1, byte(10 + i)}), Port: 80, Weight: uint32(w)})
		}
	}
	return dataplane.Table{Services: []dataplane.Service{s}}
}

// moveVIP puts the VIP on eth1 of host (adding it) or takes it away.
func moveVIP(lab *topology.Lab, host string, add bool) {
	GinkgoHelper()
	h, err := lab.Handle(host)
	Expect(err).NotTo(HaveOccurred())
	link, err := h.LinkByName("eth1")
	Expect(err).NotTo(HaveOccurred())
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: labVIP.AsSlice(), Mask: net.CIDRMask(32, 32)}}
	if add {
		Expect(h.AddrAdd(link, addr)).To(Succeed())
	} else {
		Expect(h.AddrDel(link, addr)).To(Succeed())
	}
}

// flushClientNeighbours makes the client ask ARP again, as a gratuitous
// ARP after a failover would make it update.
func flushClientNeighbours(lab *topology.Lab) {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := lab.Output(ctx, "client", "ip", "neigh", "flush", "dev", "eth1")
	Expect(err).NotTo(HaveOccurred(), "%s", out)
}

// tableIdentity returns what identifies the table on host apart from the
// traffic it carries: its chains and rules with their handles and its
// maps (`nft -a -s -t list table`: without counter values, which late
// packets of an earlier spec's connections move, and without elements),
// and the elements of the maps the control plane writes (dispatch, slots,
// reals). The
// connection and persistence maps (those with a timeout) are left out:
// their entries come and go with packets (a late ACK of an earlier
// connection adds one) and list their remaining time.
func tableIdentity(lab *topology.Lab, host string) string {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := lab.Output(ctx, host, "nft", "-a", "-s", "-t", "list", "table", "netdev", nft.DefaultTable)
	Expect(err).NotTo(HaveOccurred(), "%s", out)
	id := string(out)
	for _, m := range staticMaps(id) {
		els, err := lab.Output(ctx, host, "nft", "-s", "list", "map", "netdev", nft.DefaultTable, m)
		Expect(err).NotTo(HaveOccurred(), "%s", els)
		id += string(els)
	}
	return id
}

// staticMaps names the maps without a timeout in a terse nft listing.
func staticMaps(listing string) []string {
	var names []string
	var current string
	dynamic := false
	for _, line := range strings.Split(listing, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "map":
			current, dynamic = f[1], false
		case current != "" && len(f) > 0 && (f[0] == "timeout" || f[0] == "flags" && slices.Contains(f, "timeout")):
			dynamic = true
		case current != "" && len(f) > 0 && f[0] == "}":
			if !dynamic {
				names = append(names, current)
			}
			current = ""
		}
	}
	return names
}

// servedBy fetches /data through the VIP with c and returns X-Real-Server
// and whether the request reused an existing connection.
func servedBy(c *http.Client) (string, bool, error) {
	return servedFrom(c, "http://172.16.1.1/data")
}

// servedFrom fetches url with c and returns X-Real-Server and whether the
// request reused an existing connection.
func servedFrom(c *http.Client, url string) (string, bool, error) {
	var reused bool
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", false, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return "", false, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", false, fmt.Errorf("status %d", resp.StatusCode)
	}
	return resp.Header.Get("X-Real-Server"), reused, nil
}

// keepAliveClient returns a client from inside host that keeps one
// connection open between requests; close it with CloseIdleConnections.
func keepAliveClient(lab *topology.Lab, host string) *http.Client {
	return &http.Client{
		Timeout: 3 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return lab.DialContext(ctx, host, network, addr)
			},
			MaxIdleConnsPerHost: 1,
			MaxConnsPerHost:     1,
			IdleConnTimeout:     time.Minute,
		},
	}
}

// keepAliveTo opens keep-alive clients until one's connection lands on want.
func keepAliveTo(lab *topology.Lab, want string) *http.Client {
	GinkgoHelper()
	for range 20 {
		c := keepAliveClient(lab, "client")
		got, _, err := servedBy(c)
		Expect(err).NotTo(HaveOccurred())
		if got == want {
			return c
		}
		c.CloseIdleConnections()
	}
	Fail("no connection landed on " + want + " in 20 attempts")
	return nil
}

var _ = Describe("the nft data plane in the seed lab", Ordered, func() {
	var (
		lab *topology.Lab
		lb1 *nft.Backend
		ctx context.Context
	)

	BeforeAll(func() {
		testenv.PrivilegedGinkgo("nft")
		ctx = context.Background()
		lab = labtest.Up(labtest.Name("dl"), topology.Seed(), binDir)
		// lb1 owns the VIP: the client's ARP for it now resolves to lb1.
		moveVIP(lab, "lb1", true)
		var err error
		lb1, err = nft.New(dataplane.Options{NetNSPath: lab.NSPath("lb1")})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(lb1.Flush(context.Background())).To(Succeed()) })
	})

	// Every spec starts from empty connection tables.
	BeforeEach(func() {
		Expect(lb1.Flush(ctx)).To(Succeed())
	})

	DescribeTable("splits 200 connections through the VIP as the weights say (± 10 %)",
		func(sched string, w1, w2 int) {
			Expect(lb1.Apply(ctx, labTable(sched, w1, w2))).To(Succeed())
			const n = 200
			client := lab.HTTPClient("client", 3*time.Second) // a new connection per request
			got := map[string]int{}
			for range n {
				server, _, err := servedBy(client)
				Expect(err).NotTo(HaveOccurred())
				got[server]++
			}
			want1 := n * w1 / (w1 + w2)
			GinkgoWriter.Printf("%s %d:%d over %d connections: %v\n", sched, w1, w2, n, got)
			Expect(got["rs1"]+got["rs2"]).To(Equal(n), "answers from elsewhere: %v", got)
			Expect(got["rs1"]).To(BeNumerically("~", want1, n/10), "split %v", got)

			obs, err := lb1.Observe(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(obs.Services).To(HaveLen(1))
			var conns uint32
			for _, r := range obs.Services[0].Observed {
				conns += r.ActiveConn
			}
			// Every connection has its entry; the last packets of the previous
			// spec's connections (final ACKs after the flush) may add a few.
			Expect(conns).To(And(BeNumerically(">=", n), BeNumerically("<=", n+5)), "connection table entries")
		},
		Entry("wrr 1:3", "wrr", 1, 3),
		Entry("rr 1:1", "rr", 1, 1),
		Entry("mh 1:1", "mh", 1, 1),
		Entry("wlc 2:1 (consistent hash)", "wlc", 2, 1),
	)

	It("with persistence, sends every new connection of a client to one server", func() {
		table := labTable("rr", 1, 1) // alternates without persistence
		table.Services[0].PersistenceTimeout = time.Minute
		Expect(lb1.Apply(ctx, table)).To(Succeed())
		client := lab.HTTPClient("client", 3*time.Second)
		first, _, err := servedBy(client)
		Expect(err).NotTo(HaveOccurred())
		for range 20 {
			Expect(servedBy(client)).To(Equal(first))
		}
	})

	It("delivers a 1 MiB download through the VIP intact", func() {
		Expect(lb1.Apply(ctx, labTable("wrr", 1, 1))).To(Succeed())
		client := lab.HTTPClient("client", 10*time.Second)
		for range 2 { // one from each real server
			resp, err := client.Get("http://172.16.1.1/blob?size=1048576")
			Expect(err).NotTo(HaveOccurred())
			n, err := topology.VerifyBlob(resp.Body)
			resp.Body.Close()
			Expect(err).NotTo(HaveOccurred(), "from %s", resp.Header.Get("X-Real-Server"))
			Expect(n).To(BeEquivalentTo(1 << 20))
		}
	})

	It("keeps a keep-alive connection to rs2 when rs1 is removed", func() {
		Expect(lb1.Apply(ctx, labTable("wrr", 1, 1))).To(Succeed())
		c := keepAliveTo(lab, "rs2")
		defer c.CloseIdleConnections()

		Expect(lb1.Apply(ctx, labTable("wrr", -1, 1))).To(Succeed())
		for range 5 {
			server, reused, err := servedBy(c)
			Expect(err).NotTo(HaveOccurred())
			Expect(reused).To(BeTrue(), "the connection was not kept")
			Expect(server).To(Equal("rs2"))
		}
		for range 10 {
			server, _, err := servedBy(lab.HTTPClient("client", 3*time.Second))
			Expect(err).NotTo(HaveOccurred())
			Expect(server).To(Equal("rs2"), "a new connection went to the removed server")
		}
	})

	It("reapplies an unchanged table without changing a rule handle", func() {
		table := labTable("mh", 1, 1)
		table.Services = append(table.Services, labTable("wrr", 2, 1).Services[0])
		table.Services[1].Port = 8080
		Expect(lb1.Apply(ctx, table)).To(Succeed())
		before := tableIdentity(lab, "lb1")
		Expect(before).To(ContainSubstring("# handle"))
		Expect(before).To(ContainSubstring(": 172.16.1.10"), "the slots and reals maps' elements are compared")
		Expect(before).NotTo(ContainSubstring("expires"), "the connection maps' entries are compared")

		Expect(lb1.Apply(ctx, table)).To(Succeed())
		Expect(tableIdentity(lab, "lb1")).To(Equal(before))

		// A back end that did not apply it reads the kernel and agrees.
		fresh, err := nft.New(dataplane.Options{NetNSPath: lab.NSPath("lb1")})
		Expect(err).NotTo(HaveOccurred())
		Expect(fresh.Apply(ctx, table)).To(Succeed())
		Expect(tableIdentity(lab, "lb1")).To(Equal(before))
	})

	It("rejects a table naming a missing interface before anything changes", func() {
		Expect(lb1.Apply(ctx, labTable("wrr", 1, 1))).To(Succeed())
		before := tableIdentity(lab, "lb1")
		bad := labTable("wrr", 1, 3)
		bad.Services[0].Interface = "nosuch0"
		err := lb1.Apply(ctx, bad)
		Expect(err).To(MatchError(ContainSubstring(`interface "nosuch0" does not exist`)))
		Expect(tableIdentity(lab, "lb1")).To(Equal(before))
		// The old table still forwards.
		server, _, err := servedBy(lab.HTTPClient("client", 3*time.Second))
		Expect(err).NotTo(HaveOccurred())
		Expect(server).To(BeElementOf("rs1", "rs2"))
	})

	It("with mh, keeps an established connection when the VIP moves to lb2", func() {
		lb2, err := nft.New(dataplane.Options{NetNSPath: lab.NSPath("lb2")})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(lb2.Flush(context.Background())).To(Succeed()) })
		table := labTable("mh", 1, 1)
		Expect(lb1.Apply(ctx, table)).To(Succeed())
		Expect(lb2.Apply(ctx, table)).To(Succeed())

		for _, want := range []string{"rs1", "rs2"} {
			c := keepAliveTo(lab, want)
			// Fail over: lb2 takes the VIP, the client learns its MAC.
			moveVIP(lab, "lb1", false)
			moveVIP(lab, "lb2", true)
			flushClientNeighbours(lab)
			for range 3 {
				server, reused, err := servedBy(c)
				Expect(err).NotTo(HaveOccurred())
				Expect(reused).To(BeTrue(), "the connection was not kept")
				Expect(server).To(Equal(want))
			}
			obs, err := lb2.Observe(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(obs.Services[0].Observed).To(ContainElement(HaveField("ActiveConn", BeNumerically(">", 0))),
				"lb2 forwarded nothing")
			c.CloseIdleConnections()
			// And back, for the next round and the other specs.
			moveVIP(lab, "lb2", false)
			moveVIP(lab, "lb1", true)
			flushClientNeighbours(lab)
			Expect(lb2.Flush(ctx)).To(Succeed())
			Expect(lb2.Apply(ctx, table)).To(Succeed())
		}
	})
})
