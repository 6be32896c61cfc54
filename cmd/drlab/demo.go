package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/drlb/drlb/topology"
)

// cmdDemo plays the how-to in a fresh lab, narrated for a newcomer, and
// removes the lab at the end (unless --keep).
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, name, root := newFlags("demo", "[--name LAB] [--keep]", stderr)
	keep := fs.Bool("keep", false, "leave the lab running afterwards (remove it with drlab down)")
	p, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(p.args) > 0 {
		fs.Usage()
		return 2
	}
	start := time.Now()
	say := func(format string, a ...any) {
		fmt.Fprintf(stdout, "[%6.2fs] "+format+"\n", append([]any{time.Since(start).Seconds()}, a...)...)
	}
	say("building the how-to's lab %q: lb1, lb2, rs1, rs2 and a client on 172.16.1.0/24", *name)
	lab, err := topology.Up(ctx, topology.Options{Name: *name, StateRoot: *root,
		Progress: func(f string, a ...any) { fmt.Fprintf(stdout, "          "+f+"\n", a...) }})
	if err != nil {
		fmt.Fprintf(stderr, "drlab demo: %v\n", err)
		return 1
	}
	if !*keep {
		defer func() {
			if err := lab.Down(context.WithoutCancel(ctx)); err != nil {
				fmt.Fprintf(stderr, "drlab demo: %v (run `drlab down --name %s`)\n", err, *name)
			}
			say("lab removed")
		}()
	}
	say("the real servers hold the VIP 172.16.1.1 on lo and ignore ARP for it (arp_ignore=1, arp_announce=2)")
	client := lab.HTTPClient("client", 2*time.Second)
	for _, rs := range []string{"rs1", "rs2"} {
		url := fmt.Sprintf("http://%s/data", lab.Addr(rs))
		resp, err := client.Get(url)
		if err != nil {
			fmt.Fprintf(stderr, "drlab demo: client → %s: %v\n", url, err)
			return 1
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		say("client GET %s → served by %s: %s", url, resp.Header.Get("X-Real-Server"), trimBody(body))
	}
	ctx2, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	if _, err := lab.ResolveARP(ctx2, "client", "eth1", topology.Seed().Host("rs1").LoopbackAddr()); err != nil {
		say("client ARP who-has 172.16.1.1: no answer, as DR needs (only the master balancer may answer)")
	} else {
		say("client ARP who-has 172.16.1.1: ANSWERED by a real server: the ARP sysctls are wrong")
		return 1
	}
	if *keep {
		say("lab left running: try `drlab status --name %s`, `drlab exec --name %s client -- curl -s http://172.16.1.10/data`", *name, *name)
	}
	return 0
}

func trimBody(b []byte) string {
	s := string(b)
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}
