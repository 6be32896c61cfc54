package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/drlb/drlb/internal/cli"
	"github.com/drlb/drlb/scenarios"
	"github.com/drlb/drlb/scenarios/report"
	"github.com/drlb/drlb/topology"
)

// newDemoCmd is drlab demo: it plays the how-to in a fresh lab, narrated for a newcomer: drlb on
// lb1 and lb2 with the how-to's configuration, `drlb status` on both, the
// client served by rs1 and rs2 through the VIP, then the master killed and
// the VIP answering from lb2. Without a working `drlb run` it shows the lab
// alone. The lab is removed at the end (unless --keep).
func newDemoCmd() *cobra.Command {
	var keep, labOnly bool
	c := &cobra.Command{
		Use:               "demo [--name LAB] [--keep] [--lab-only]",
		Short:             "the how-to, live and narrated, in a fresh lab",
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: cli.NoFileCompletion,
	}
	lf := addLabFlags(c)
	c.Flags().BoolVar(&keep, "keep", false, "leave the lab running afterwards (remove it with drlab down)")
	c.Flags().BoolVar(&labOnly, "lab-only", false, "show the lab without balancers")
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return cli.BadUsage(c)
		}
		lf.resolve(c)
		return cli.Exit(demo(c.Context(), lf, keep, labOnly, c.OutOrStdout(), c.ErrOrStderr()))
	}
	return c
}

// demo plays the how-to and returns the exit status.
func demo(ctx context.Context, lf *labFlags, keep, labOnly bool, stdout, stderr io.Writer) int {
	name, root := lf.name, lf.stateRoot
	start := time.Now()
	var mu sync.Mutex
	say := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stdout, "[%6.2fs] "+format+"\n", append([]any{time.Since(start).Seconds()}, a...)...)
	}
	drlb := filepath.Join(binDir(), "drlb")
	if !labOnly {
		if err := scenarios.CheckDrlbRun(ctx, drlb); err != nil {
			say("drlb run is not available (%v): showing the lab without balancers", err)
			labOnly = true
		}
	}
	say("building the how-to's lab %q: lb1, lb2, rs1, rs2 and a client on 172.16.1.0/24", name)
	lab, err := topology.Up(ctx, topology.Options{Name: name, StateRoot: root,
		Progress: func(f string, a ...any) { fmt.Fprintf(stdout, "          "+f+"\n", a...) }})
	if err != nil {
		fmt.Fprintf(stderr, "drlab demo: %v\n", err)
		return 1
	}
	if !keep {
		defer func() {
			if err := lab.Down(context.WithoutCancel(ctx)); err != nil {
				fmt.Fprintf(stderr, "drlab demo: %v (run `drlab down --name %s`)\n", err, name)
			}
			say("lab removed")
		}()
	} else {
		defer say("lab left running: drlab status --name %s; drlab down --name %s", name, name)
	}
	if labOnly {
		return demoLab(ctx, lab, say, stderr)
	}
	return demoFailover(ctx, lab, drlb, &mu, say, stdout, stderr)
}

// demoLab shows the lab alone: the real servers by their own addresses, and
// that nobody answers ARP for the VIP.
func demoLab(ctx context.Context, lab *topology.Lab, say func(string, ...any), stderr io.Writer) int {
	say("the real servers hold the VIP 172.16.1.1 on lo and ignore ARP for it (arp_ignore=1, arp_announce=2)")
	client := lab.HTTPClient("client", 2*time.Second)
	for _, rs := range []string{"rs1", "rs2"} {
		url := fmt.Sprintf("http://%s/data", lab.Addr(rs))
		resp, err := client.Get(url)
		if err != nil {
			fmt.Fprintf(stderr, "drlab demo: client → %s: %v\n", url, err)
			return 1
		}
		body, err := io.ReadAll(resp.Body)
		if cerr := resp.Body.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			fmt.Fprintf(stderr, "drlab demo: client → %s: %v\n", url, err)
			return 1
		}
		say("client GET %s → served by %s: %s", url, resp.Header.Get("X-Real-Server"), trimBody(body))
	}
	ctx2, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	if _, err := lab.ResolveARP(ctx2, "client", "eth1", topology.Seed().Host("rs1").LoopbackAddr()); err == nil {
		say("client ARP who-has 172.16.1.1: ANSWERED by a real server: the ARP sysctls are wrong")
		return 1
	}
	say("client ARP who-has 172.16.1.1: no answer, as DR needs (only the master balancer may answer)")
	return 0
}

// demoFailover plays the master-crash scenario with narration, showing
// `drlb status` and client answers along the way.
func demoFailover(ctx context.Context, lab *topology.Lab, drlb string, mu *sync.Mutex, say func(string, ...any), stdout, stderr io.Writer) int {
	sc, err := scenarios.Load("master-crash", nil)
	if err != nil {
		fmt.Fprintf(stderr, "drlab demo: %v\n", err)
		return 1
	}
	// One more look after the failover: the VIP answers from lb2.
	at := scenarios.Duration(8 * time.Second)
	sc.Steps = append(sc.Steps, scenarios.Step{Name: "served through lb2", At: &at,
		Explain: "lb2 holds the VIP and forwards to rs1 and rs2 as lb1 did."})
	say("drlb runs on lb1 (priority 150, MASTER) and lb2 (priority 100, BACKUP) with the how-to's")
	say("keepalived.conf: virtual_router_id 51 (500 is not a valid VRID), digests of the lab's /teste.html pages")
	printer := scenarios.NewPrinter(stdout, true)
	fetches := func(n int) {
		client := lab.HTTPClient("client", time.Second)
		var served []string
		for range n {
			resp, err := client.Get("http://172.16.1.1/data")
			if err != nil {
				served = append(served, "error")
				continue
			}
			_, err = io.Copy(io.Discard, resp.Body)
			if cerr := resp.Body.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				served = append(served, "error")
				continue
			}
			served = append(served, resp.Header.Get("X-Real-Server"))
		}
		fmt.Fprintf(stdout, "\n  client: %d × GET http://172.16.1.1/data → served by %s\n", n, strings.Join(served, ", "))
	}
	opts := scenarios.Options{
		Lab: lab, DrlbBinary: drlb,
		OnEvent: func(ev scenarios.Event) {
			mu.Lock()
			defer mu.Unlock()
			printer.Print(ev)
		},
		BeforeStep: func(ctx context.Context, i int, st *scenarios.Step) error {
			mu.Lock()
			defer mu.Unlock()
			printer.Flush()
			if i == 0 {
				for _, host := range []string{"lb1", "lb2"} {
					out, err := lab.Output(ctx, host, drlb, "status")
					fmt.Fprintf(stdout, "\n  $ drlab exec %s -- drlb status\n  %s\n", host, strings.ReplaceAll(strings.TrimRight(string(out), "\n"), "\n", "\n  "))
					if err != nil {
						fmt.Fprintf(stdout, "  (%v)\n", err)
					}
				}
				fetches(4)
				fmt.Fprintf(stdout, "\n  now: kill -9 the master's daemon (at t=%s)\n\n", st.At)
			}
			if st.Name == "served through lb2" {
				owners, _ := lab.VIPOwners(lab.Spec().Host("rs1").LoopbackAddr())
				fmt.Fprintf(stdout, "\n  VIP holders now: %s (lb1's kernel keeps the address its dead daemon set; lb2's gratuitous ARPs won the client)\n", strings.Join(owners, ", "))
				fetches(4)
				fmt.Fprintln(stdout)
			}
			return nil
		},
	}
	timeline, err := os.Create(filepath.Join(os.TempDir(), "drlab-demo-"+lab.Name()+".timeline.jsonl"))
	if err != nil {
		fmt.Fprintf(stderr, "drlab demo: %v\n", err)
		return 1
	}
	opts.Timeline, opts.TimelinePath = timeline, timeline.Name()
	res := scenarios.Run(ctx, sc, opts)
	mu.Lock()
	printer.Flush()
	err = errors.Join(printer.Err(), res.WriteSummary(stdout), timeline.Close())
	mu.Unlock()
	if err == nil {
		err = demoReport(timeline.Name(), say)
	}
	if err != nil {
		fmt.Fprintf(stderr, "drlab demo: %v\n", err)
		return 1
	}
	if !res.Passed() {
		fmt.Fprint(stderr, res.Report())
		return 1
	}
	say("done: the client kept being served by rs1 and rs2 while the VIP moved from lb1 to lb2")
	return 0
}

// demoReport writes the run's training view next to its timeline and says where.
func demoReport(timelinePath string, say func(string, ...any)) error {
	page := strings.TrimSuffix(timelinePath, ".timeline.jsonl") + ".html"
	if err := report.WriteFile(timelinePath, page); err != nil {
		return err
	}
	say("training view of this run (open it in a browser, press space to replay): %s", page)
	return nil
}

func trimBody(b []byte) string {
	return strings.TrimRight(string(b), "\r\n")
}
