package topology_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

var _ = Describe("the scaleout lab", func() {
	BeforeEach(func() { testenv.PrivilegedGinkgo("vtysh", topology.FRRBin+"/bgpd") })

	It("runs FRR in its own pathspace, routes the client through the router, and leaves nothing on down", func() {
		name := labtest.Name("tso")
		ctx := context.Background()
		lab, err := topology.Up(ctx, topology.Options{Name: name, Spec: topology.Scaleout(), DrlabBinary: filepath.Join(binDir, "drlab")})
		Expect(err).NotTo(HaveOccurred())
		downed := false
		DeferCleanup(func() {
			if !downed {
				_ = lab.Down(context.Background())
			}
		})
		pathspace := filepath.Join(topology.FRRDir, lab.FRRPathspace("router"))
		Expect(filepath.Join(pathspace, "bgpd.vty")).To(BeAnExistingFile())
		Expect(lab.Running("router", "frr-zebra")).To(BeTrue())
		Expect(lab.Running("router", "frr-bgpd")).To(BeTrue())
		out, err := lab.Vtysh(ctx, "router", "show running-config")
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(ContainSubstring("maximum-paths 16"))
		Expect(out).To(ContainSubstring("bgp listen range 172.16.2.0/24"))
		// No director announces yet: no route to the VIP (the control: the
		// router does reach a director's own address).
		hops, err := lab.NextHops("router", netip.MustParseAddr("172.16.100.1"))
		Expect(err).NotTo(HaveOccurred())
		Expect(hops).To(BeEmpty())
		_, _, err = get(lab, "client", "http://172.16.2.21/data")
		Expect(err).NotTo(HaveOccurred(), "the client reaches a real server through the router")
		policy, err := lab.Sysctl("router", "net.ipv4.fib_multipath_hash_policy")
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.TrimSpace(policy)).To(Equal("1"))
		st, err := lab.Status()
		Expect(err).NotTo(HaveOccurred())
		Expect(st.Routers).To(HaveLen(1))
		Expect(st.Routers[0].Error).To(BeEmpty())

		start := time.Now()
		Expect(lab.Down(ctx)).To(Succeed())
		downed = true
		AddReportEntry("scaleout down", time.Since(start).String())
		_, err = os.Stat(pathspace)
		Expect(os.IsNotExist(err)).To(BeTrue(), "the FRR pathspace is removed on down")
	})
})
